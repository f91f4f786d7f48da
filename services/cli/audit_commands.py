"""Commands for auditors and operators of the read side: rebuilding the views."""

from __future__ import annotations

from rich.progress import Progress

from services import presenters
from services.cli.plumbing import OPTIONS, app, emit, runtime


@app.command("rebuild")
def rebuild() -> None:
    """Rebuild reporting's views from the log (embedded: every store from the start; over
    Kafka: every case topic from offset 0), compare them with the live ones, swap them in."""
    from services.reporting.rebuild import rebuild_views, store_batches, topic_batches

    with runtime() as rt, Progress(disable=OPTIONS.json, transient=True) as bar:
        task = bar.add_task("Rebuilding the views", total=None)
        settings = getattr(rt, "settings", None)
        batches = topic_batches(settings.bootstrap) if settings else store_batches(rt.services)
        result = rebuild_views(rt.reporting, batches, lambda n: bar.advance(task, n))
    emit(result, lambda r: presenters.say(
        f"Rebuilt the views of {r['cases']} cases from {r['events']} events; "
        + ("identical to the live views." if r["equal_to_live"] else
           f"{len(r['differences'])} differences from the live views: " + "; ".join(r["differences"]))))
