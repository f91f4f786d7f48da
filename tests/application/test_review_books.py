"""Review's SLA clock and referral book, stored now and then as of a position in its log: a
new process (each embedded command is one) starts from them and folds only what came
after, and it gets the books a fold from the start gives."""

from __future__ import annotations

import pytest

from services.bootstrap import build_service
from services.review import book_snapshots
from services.review.application import Review
from services.review.referral_book import ReferralBook
from services.review.review_clock import ReviewClock
from services.runtime.stores import placeholder
from tests.application.test_partners import register
from tests.fixtures import Desk, policy, request


def on_books(review: Review, statement: str, params: tuple = ()) -> None:
    """A statement on review's stored books (`{table}`; `?` the placeholder), as someone
    with access to the store would run it."""
    datastore = review.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=True) as c:
        c.execute(statement.format(table=book_snapshots.books_table(datastore)).replace("?", placeholder(datastore)),
                  params)


def new_process(desk: Desk) -> Review:
    review = build_service("review", desk.home, desk.clock)
    assert isinstance(review, Review)
    return review


def from_the_start(review: Review) -> tuple[ReviewClock, ReferralBook]:
    clock, book = ReviewClock(), ReferralBook()
    events = list(review.stored_events())
    clock.fold(events)
    book.fold(events)
    return clock, book


def same_books(review: Review) -> None:
    clock, book = from_the_start(review)
    got_clock, got_book = review.review_clock(), review.referral_book()
    assert list(got_clock.due.items()) == list(clock.due.items())
    assert list(got_clock.waiting.items()) == list(clock.waiting.items())  # the order matters
    assert (got_book.owner, got_book.open, got_book.recalls) == (book.owner, book.open, book.recalls)


def reviews(desk: Desk, n: int) -> None:
    """n cases into review: a network's (a referral in the book), then one in-house (a
    reviewer assigned: an entry in the clock's waiting list), and so on."""
    for i in range(n):
        if i % 2:
            desk.to_review(desk.open(request(policy_number="BUPA-1")), model="in_house")
        else:
            desk.to_review(desk.open())


@pytest.fixture
def small_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(book_snapshots, "SNAPSHOT_AFTER", 1)


def test_a_new_process_starts_from_the_stored_books(desk: Desk, store: str, small_snapshots: None) -> None:
    desk.load_policies(policy(), policy(number="BUPA-1", model="in_house"))
    register(desk, "acme")
    reviews(desk, 2)
    desk.rt.review.review_clock(), desk.rt.review.referral_book()  # folds, and stores them
    stored = book_snapshots.load(desk.rt.review.recorder, "review_clock")
    assert stored is not None and stored[0] == desk.rt.review.review_clock().position
    reviews(desk, 2)  # after the snapshot
    review = new_process(desk)
    try:
        same_books(review)
        assert len(review.review_clock().due) == 4 and len(review.review_clock().waiting) == 2
        assert len(review.referral_book().open) == 2
        assert book_snapshots.load(review.recorder, "review_clock")[0] > stored[0]  # type: ignore[index]
    finally:
        review.close()


def test_a_snapshot_the_chain_does_not_vouch_for_is_not_used(desk: Desk, store: str, small_snapshots: None) -> None:
    """A snapshot keeps the chain's link at its position: a store that is not the one it was
    folded from (another home at the same path, a restore) has another link there."""
    desk.load_policies(policy(), policy(number="BUPA-1", model="in_house"))
    reviews(desk, 2)
    desk.rt.review.review_clock()
    on_books(desk.rt.review, "UPDATE {table} SET link = 'not the link', state = ? WHERE name = 'review_clock'",
             (b'{"due": [], "waiting": []}',))
    review = new_process(desk)
    try:
        assert book_snapshots.load(review.recorder, "review_clock") is None
        same_books(review)
        assert len(review.review_clock().due) == 2
    finally:
        review.close()


def test_a_store_without_the_table_folds_from_the_start(desk: Desk, store: str, small_snapshots: None) -> None:
    """A home written before the books were stored, opened where the table cannot be made."""
    desk.load_policies(policy(), policy(number="BUPA-1", model="in_house"))
    reviews(desk, 2)
    on_books(desk.rt.review, "DROP TABLE {table}")
    review = new_process(desk)  # the table is made again where missing: drop it again
    on_books(review, "DROP TABLE {table}")
    try:
        same_books(review)
        assert len(review.review_clock().due) == 2
    finally:
        review.close()


def test_a_snapshot_this_code_cannot_read_is_folded_past(desk: Desk, store: str, small_snapshots: None) -> None:
    desk.load_policies(policy(), policy(number="BUPA-1", model="in_house"))
    reviews(desk, 2)
    desk.rt.review.review_clock()
    on_books(desk.rt.review, "UPDATE {table} SET state = ? WHERE name = 'review_clock'", (b'{"due": 7}',))
    review = new_process(desk)
    try:
        same_books(review)
        assert len(review.review_clock().due) == 2
    finally:
        review.close()
