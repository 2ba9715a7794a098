"""html_search_text: the words of HTML bodies, as the parser-based preview text has them."""

from __future__ import annotations

import time

import pytest

from stalwart_tx.mail.html_text import html_search_text
from stalwart_tx.mail.preview import html_to_text

SAMPLES = [
    "<html><head><title>Hidden title</title><style>p {color: red}</style></head>"
    "<body><p>Hello <b>bold</b> world</p><div>Second&nbsp;block &amp; more</div></body></html>",
    "<p>wo<i>r</i>d split by inline tags</p><br/>after break<br>again",
    "<script type='text/javascript'>var x = '<p>not text</p>';</script>visible",
    "<!-- a comment with words --> shown <!-- another -->",
    "<table><tr><td>cell one</td><td>cell two</td></tr></table>",
    "plain text without tags &lt;angle&gt; &#233;t&#xE9;",
    "<TEMPLATE>never</TEMPLATE><H1>Heading</H1><LI>item",
    "<a href='https://example.com/?a=1&amp;b=2'>link text</a>",
]


@pytest.mark.parametrize("source", SAMPLES)
def test_the_words_are_those_of_the_parser(source: str) -> None:
    assert html_search_text(source).split() == html_to_text(source).split()


def test_what_is_never_closed_is_dropped_to_the_end() -> None:
    assert html_search_text("before <script>var a = 1; after").split() == ["before"]
    assert html_search_text("before <!-- never closed words").split() == ["before"]


@pytest.mark.parametrize("hostile", [
    "<a" * 200_000,
    "<script" * 100_000,
    "<!--" * 100_000 + "x",
    "<p " + "x" * 1_000_000,
    "<" * 1_000_000,
])
def test_hostile_markup_takes_linear_time(hostile: str) -> None:
    started = time.process_time()
    html_search_text(hostile)
    # quadratic behaviour on these inputs would take minutes
    assert time.process_time() - started < 5
