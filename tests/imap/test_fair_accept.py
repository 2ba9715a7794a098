"""FairAccept with a SessionBoard: a process serving more sessions than another leaves a new
connection to it, for a bounded time; the board itself is shared memory across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from twisted.internet.task import Clock

from stalwart_tx.imap.fair_accept import DEFER, MAX_DEFER, FairAccept
from stalwart_tx.imap.session_board import SessionBoard


class FakePort:
    """A listening port with ``pending`` connections waiting; each accept serves one more."""

    def __init__(self) -> None:
        self.pending = 0
        self.sessionno = 0
        self.connected = True
        self.disconnecting = False
        self.numberAccepts = 100
        self.reading = True

    def doRead(self) -> None:
        if self.pending:
            self.pending -= 1
            self.sessionno += 1

    def stopReading(self) -> None:
        self.reading = False

    def startReading(self) -> None:
        self.reading = True


def two_processes(mine: int) -> tuple[FakePort, FairAccept, SessionBoard, Clock]:
    """This process (slot 1) serving ``mine`` sessions, beside slot 0."""
    board = SessionBoard.create(2)
    here = SessionBoard(board.fd, 2, 1)
    port, clock = FakePort(), Clock()
    served = [mine]
    fair = FairAccept(port, lambda: served[0] + port.sessionno, clock, board=here)
    return port, fair, board, clock


def wake(port: FakePort, fair: FairAccept, clock: Clock, seconds: float) -> None:
    """The reactor's part: doRead while the port listens and a connection waits."""
    deadline = clock.seconds() + seconds
    while clock.seconds() < deadline:
        if port.reading and port.pending:
            fair.doRead()
        clock.advance(DEFER / 4)


def test_a_process_with_more_sessions_leaves_the_connection_to_the_other() -> None:
    port, fair, other, clock = two_processes(mine=5)
    other.publish(2)
    port.pending = 1
    fair.doRead()
    assert port.sessionno == 0 and not port.reading, "left to the other process"
    assert other.count(1) == 5, "and told the board how many it serves"
    # the other process takes it meanwhile: nothing is waiting when this one listens again
    port.pending = 0
    clock.advance(DEFER)
    assert port.reading and port.sessionno == 0


def test_a_process_with_no_more_sessions_than_the_others_accepts_at_once() -> None:
    port, fair, other, _clock = two_processes(mine=3)
    other.publish(3)
    port.pending = 1
    fair.doRead()
    assert port.sessionno == 1
    assert other.count(1) == 4, "the board counts the new session"


def test_a_connection_the_other_process_does_not_take_is_accepted_after_max_defer() -> None:
    port, fair, other, clock = two_processes(mine=5)
    other.publish(0)  # but that process is busy, or stopped: it never accepts
    port.pending = 1
    wake(port, fair, clock, MAX_DEFER / 2)
    assert port.sessionno == 0
    wake(port, fair, clock, MAX_DEFER)
    assert port.sessionno == 1, "not left waiting longer than MAX_DEFER"
    # a later connection is a new one: left to the other process again at first
    clock.advance(1)
    port.pending = 1
    fair.doRead()
    assert port.sessionno == 1 and not port.reading


def test_without_a_board_every_wake_up_accepts() -> None:
    port, clock = FakePort(), Clock()
    fair = FairAccept(port, lambda: 50, clock)
    port.pending = 1
    fair.doRead()
    assert port.sessionno == 1 and port.numberAccepts == 1


def test_the_board_is_shared_with_a_child_process() -> None:
    board = SessionBoard.create(3)
    board.publish(4)
    script = textwrap.dedent(f"""
        from stalwart_tx.imap.session_board import SessionBoard
        board = SessionBoard({board.fd}, 3, 2)
        print(board.count(0), board.fewest_elsewhere())
        board.publish(9)
    """)
    child = subprocess.run([sys.executable, "-c", script], pass_fds=[board.fd],
                           capture_output=True, text=True, timeout=60, check=True)
    assert child.stdout.split() == ["4", "0"]
    assert board.count(2) == 9
    assert board.fewest_elsewhere() == 0  # slot 1: no process there yet
    board.clear(2)
    assert board.count(2) == 0
    os.close(board.fd)
    board.close()
