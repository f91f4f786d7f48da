"""No pydantic plugin installed beside the project sees its events (events/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from events.codec import encode
from tests.fixtures import Desk, policy
from tests.kafka_support import ROOT

#: A pydantic plugin, as a package on PyPI would ship one: it is told of every validator
#: pydantic builds and could watch every validation (here it only notes the validator).
SPY = '''
import os


class Spy:
    def new_schema_validator(self, schema, schema_type, schema_type_path, *args, **kwargs):
        with open(os.environ["SPY_LOG"], "a") as log:
            log.write(f"{schema_type_path}\\n")
        return None, None, None


plugin = Spy()
'''

DECODE = "import sys; from events.codec import decode; print(decode(open(sys.argv[1], 'rb').read()).type_name)"


def decoded_with_spy(tmp_path: Path, event: Path, **env: str) -> tuple[str, str]:
    site = tmp_path / "site"
    (site / "spy_plugin-1.0.dist-info").mkdir(parents=True, exist_ok=True)
    (site / "spy_plugin.py").write_text(SPY)
    (site / "spy_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (site / "spy_plugin-1.0.dist-info" / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")
    log = tmp_path / f"spy-{len(env)}.log"
    environment = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    environment.update(PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), SPY_LOG=str(log), **env)
    done = subprocess.run([sys.executable, "-c", DECODE, str(event)], env=environment, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip(), log.read_text() if log.exists() else ""


def test_an_installed_pydantic_plugin_never_sees_an_event(desk: Desk, tmp_path: Path) -> None:
    desk.load_policies(policy())
    case = desk.open()
    opened = desk.rt.reporting.views.audit_trail(case)[0]
    event = tmp_path / "event.json"
    event.write_bytes(encode(opened))

    # The control: where plugins are switched back on, the spy is told of the event's validator.
    type_name, seen = decoded_with_spy(tmp_path, event, PYDANTIC_DISABLE_PLUGINS="")
    assert type_name == opened.type_name and "events." in seen

    type_name, seen = decoded_with_spy(tmp_path, event)
    assert type_name == opened.type_name
    assert seen == ""
