"""Commands for auditors and operators of the read side: rebuilding the views, analytics,
the deployment's evidence-signing key."""

from __future__ import annotations

from services.cli import presenters
from services.cli.plumbing import OPTIONS, app, emit, runtime
from services.common.errors import BadInput


@app.command("rebuild")
def rebuild() -> None:
    """Rebuild reporting's views from the log (embedded: every store from the start; over
    Kafka: every case topic from offset 0) and compare them with the live ones; where they
    differ, the rebuilt views replace the live ones."""
    from services.reporting.rebuild import rebuild_views, store_batches
    from services.reporting.rebuild_shards import sharded_check

    with runtime(tick=False) as rt, presenters.progress("Rebuilding the views", enabled=not OPTIONS.json) as advance:
        settings = getattr(rt, "settings", None)
        if settings is not None:  # reporting's own worker rebuilds its store
            result = rt.command(lambda: rt.reporting.rebuild_views_from_topics(settings.bootstrap))
        else:
            result = rebuild_views(rt.reporting, lambda: store_batches(rt.services), advance,
                                   sharded_check(rt.services, rt.reporting))
            result["skipped"] = []
    emit(result, lambda r: presenters.say(
        f"Rebuilt the views of {r['cases']} cases from {r['events']} events; "
        + ("identical to the live views." if r["equal_to_live"] else
           f"{len(r['differences'])} differences from the live views: " + "; ".join(r["differences"]))))


@app.command("signing-key")
def signing_key() -> None:
    """The public key that signs this deployment's evidence bundles (replay --export), for
    `cases verify --bundle DIR --public-key HEX`. Reads the key; never makes one."""
    from services.bootstrap import KEY_FILE, load_keys
    from services.reporting.audit.signing import public_key_hex
    from services.runtime.stores import cases_home

    home = cases_home(OPTIONS.home, create=False)
    try:
        seed = load_keys(home, create=False).signing
    except FileNotFoundError:
        raise BadInput("--home", f"no {KEY_FILE} in {home} (the first command that records something makes it)") from None
    except OSError as error:
        raise BadInput("--home", f"cannot read {home / KEY_FILE}: {error.strerror or error}") from None
    emit({"public_key": public_key_hex(seed)}, lambda r: presenters.say(r["public_key"]))


@app.command("analytics")
def analytics() -> None:
    """Weekly aggregates over de-identified case facts: opened, accepted, declined by reason,
    median turnaround, breach rate. Embedded: computed from the stores; over Kafka: the
    aggregates the analytics agent keeps on cases.analytics.weekly.v1."""
    from services.bootstrap import load_keys
    from services.reporting.analytics.weeks import weekly_analytics

    with runtime(reads=True) as rt:
        weeks = weekly_analytics(rt, lambda: load_keys(rt.home, create=False).analytics)
    emit({"weeks": weeks, "cases": sum(w["opened"] for w in weeks)}, presenters.analytics)


