"""Reading a job's provider events, newest first, within a per-pass page budget."""

import threading

from django.conf import settings

from finetunings.providers import Provider

# call that starts there covers up to 100 jobs of the batch. Jobs a list does not cover
# are retrieved one by one, a few at a time. Events are read for running jobs every poll.
# Network calls run in a small thread pool with no database work; the main thread writes.

# Room left between the events read before and after a budget cut a read short: the
# missing (older) events are numbered downwards into it when they are read later.
EVENT_GAP_ROOM = 10**9
EVENT_PAGE_SIZE = 100


class Budget:
    """Event pages a pass may still read, shared by the pass's threads."""

    def __init__(self, pages: int):
        self._pages = pages
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._pages <= 0:
                return False
            self._pages -= 1
            return True


def fetch_new_events(
    *, provider: Provider, job_id: str, cursor: dict, budget: Budget | None = None
) -> tuple[list, dict | None, int]:
    """The job's events not yet stored, with their place in the provider's order.

    OpenAI lists events newest first and ``after`` pages towards older ones, so what is new
    is read from the top down to the newest event already stored. When the page budget
    cuts that short, the events read are numbered above a gap of EVENT_GAP_ROOM and the
    cursor remembers the gap (from the oldest event read down to the newest one stored
    before), which the next poll fills first. Returns ``(event, sequence)`` pairs, the new
    cursor (None when unchanged) and the number of pages read.
    """
    pages = _Pages(provider, job_id, budget)
    if cursor.get("gap_after"):
        found, new_cursor = _fill_gap(pages, cursor)
    else:
        found, new_cursor = _read_newest(pages, cursor)
    return found, new_cursor, pages.read


class _Pages:
    """One job's event pages, read while its own and the pass's budgets allow."""

    def __init__(self, provider: Provider, job_id: str, budget: Budget | None):
        self.provider, self.job_id, self.budget = provider, job_id, budget
        self.per_job = max(settings.FINETUNING_WORKER_EVENT_PAGES_PER_JOB, 1)
        self.read = 0

    def next(self, after):
        """The page after ``after``, or None when no more may be read this pass."""
        # The first page of every job is always read: the budget bounds the extra ones,
        # so no job waits for its events behind another one's long history.
        if self.read and not (
            self.read < self.per_job and (self.budget is None or self.budget.take())
        ):
            return None
        self.read += 1
        return self.provider.list_job_events(self.job_id, after=after, limit=EVENT_PAGE_SIZE)


def _fill_gap(pages: _Pages, cursor: dict) -> tuple[list, dict]:
    """Read on from the gap a budget left, numbering the older events downwards into it."""
    after, until, sequence = cursor["gap_after"], cursor.get("gap_until"), cursor["gap_seq"]
    found = []
    closed = False
    while not closed and (page := pages.next(after)) is not None:
        for event in page.events:
            if event.id == until:
                break
            found.append((event, sequence))
            sequence -= 1
            after = event.id
        else:
            closed = not page.has_more or not page.events
            continue
        closed = True
    new_cursor = {key: value for key, value in cursor.items() if not key.startswith("gap_")}
    if not closed:
        new_cursor.update(gap_after=after, gap_until=until, gap_seq=sequence)
    return found, new_cursor


def _read_newest(pages: _Pages, cursor: dict) -> tuple[list, dict | None]:
    """Read from the top down to the newest event stored before (or as far as allowed)."""
    newest_id, newest_seq = cursor.get("newest_id"), cursor.get("newest_seq", 0)
    fetched = []
    after = None
    reached = False
    while not reached and (page := pages.next(after)) is not None:
        for event in page.events:
            if event.id == newest_id:
                reached = True
                break
            fetched.append(event)
        reached = reached or not page.has_more or not page.events
        if page.events:
            after = page.events[-1].id
    if not fetched:
        return [], None
    base = newest_seq if reached else newest_seq + EVENT_GAP_ROOM
    found = [(event, base + index) for index, event in enumerate(reversed(fetched), start=1)]
    new_cursor = {"newest_id": fetched[0].id, "newest_seq": base + len(fetched)}
    if not reached:
        new_cursor.update(gap_after=fetched[-1].id, gap_until=newest_id, gap_seq=base)
    return found, new_cursor
