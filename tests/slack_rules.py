"""What Slack would do with message text: a conservative checker for the tests.

Written from Slack's documentation, not from ``app.messages``:

- Escaping (https://docs.slack.dev/messaging/formatting-message-text#escaping): "Slack uses
  &, <, and > as control characters for special parsing in text objects", and "only the
  specific characters shown above will be decoded" (&amp;, &lt;, &gt;).
- Formatting (same page): bold, italic, strikethrough and code "surround text with" ``*``,
  ``_``, ``~`` and a backtick; three backticks make a block; a quote is ``>`` before a line.
- Automatic parsing (https://docs.slack.dev/reference/block-kit/composition-objects/text-object,
  field ``verbatim``): "When set to false (as is default) URLs will be auto-converted into
  links, conversation names will be link-ified, and certain mentions will be automatically
  parsed." URL detection runs on Slack's servers and also links bare ``www.foo.com``
  (https://api.slack.com/docs/formatting). Clients may show a link even where the message
  data is plain (a Slack SDK maintainer in slackapi/java-slack-sdk#1069), so link checks
  apply to plain_text objects too.

Where the documentation stops, the checker assumes the worst for us:

- any character that is not a letter or digit can stand beside a marker as a word boundary
  (invisible ones included), and any non-space character can start or end formatted text;
- the fullwidth forms of the markers count as markers (Slack clients read some of them);
- a linkifier matches a literal trigger followed by a character that could continue it:
  ``scheme://``; ``mailto:`` and an address character; ``www.`` and a host character (a
  letter, digit, hyphen or any invisible format character, which IDNA drops from host
  names); ``label.tld`` (a word or invisible format character, a dot, a letter or digit:
  host labels start with one; the IDNA dots U+3002, U+FF0E, U+FF61 count as dots); ``@``
  or ``#`` and a word character; ``:emoji:``.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import Counter
from typing import Any

MARKERS = "*_~`"
# Fullwidth asterisk, low line, tilde and grave accent read as the ASCII markers.
FULLWIDTH_MARKERS = str.maketrans("\uff0a\uff3f\uff5e\uff40", MARKERS)
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_DOTS = "[.\u3002\uff0e\uff61]"


def _format_characters() -> str:
    """Every invisible format character (Unicode category Cf), as a regex class."""
    cf = (chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")
    return "[" + "".join(map(re.escape, cf)) + "]"


_FORMAT = _format_characters()

LINKABLE = {
    "URL scheme": re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://"),
    "mailto": re.compile(r"mailto:[\w.!#$%&'*+/=?^`{|}~-]", re.IGNORECASE),
    "www": re.compile("www" + _DOTS + r"(?=[^\W_]|-|" + _FORMAT + ")", re.IGNORECASE),
    "domain": re.compile(r"(?:\w|" + _FORMAT + ")" + _DOTS + r"[^\W_]"),
    "email or @mention": re.compile(r"@\w"),
    "#channel": re.compile(r"#\w"),
    "emoji": re.compile(r":[\w+'-]+:"),
}
_STRAY_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")

# Characters a reader cannot tell apart from a marker: a safe rendering may show these.
LOOKALIKES = {"\u2217": "*", "\u02cd": "_", "\u223c": "~", "\u02cb": "`"}
SAME_GLYPH = str.maketrans(LOOKALIKES | dict(zip("\uff0a\uff3f\uff5e\uff40", MARKERS, strict=True)))


def text_objects(node: Any) -> list[dict[str, Any]]:
    """Every text object (mrkdwn or plain_text) anywhere in a list of blocks."""
    if isinstance(node, list):
        return [t for item in node for t in text_objects(item)]
    if not isinstance(node, dict):
        return []
    found = [node] if node.get("type") in ("mrkdwn", "plain_text") else []
    return found + [t for value in node.values() for t in text_objects(value)]


def problems(mrkdwn: str) -> list[str]:
    """What Slack would parse in a mrkdwn string: control characters, quotes, links, mentions."""
    found = []
    if "<" in mrkdwn or ">" in mrkdwn:
        found.append("a raw < or > (a control sequence)")
    if _STRAY_AMPERSAND.search(mrkdwn):
        found.append("an & that starts no entity")
    for line in mrkdwn.split("\n"):
        if line.lstrip().startswith(("&gt;", "\uff1e")):
            found.append(f"a quote: {line!r}")
    return found + link_problems(mrkdwn)


def link_problems(text: str) -> list[str]:
    """What a linkifier could find in any text, plain_text included; and bidi controls."""
    found = [f"{what}: {m.group()!r}" for what, p in LINKABLE.items() if (m := p.search(text))]
    if text != text.translate(BIDI_CONTROLS):
        found.append("a bidi control")
    return found


def marker_counts(mrkdwn: str) -> Counter[str]:
    return Counter(c for c in mrkdwn.translate(FULLWIDTH_MARKERS) if c in MARKERS)


def formatting_spans(mrkdwn: str) -> list[tuple[str, str]]:
    """(marker, text) for every stretch a marker pair could format, read as loosely as
    possible: an opening marker at a line start or after anything but a letter or digit,
    followed by a non-space; a closing one after a non-space, before anything but a letter
    or digit."""
    spans = []
    for line in mrkdwn.translate(FULLWIDTH_MARKERS).split("\n"):
        for marker in MARKERS:
            start = line.find(marker)
            while start != -1:
                end = _closing(line, marker, start)
                if end is None:
                    start = line.find(marker, start + 1)
                else:
                    spans.append((marker, line[start + 1 : end]))
                    start = line.find(marker, end + 1)
    return spans


def _closing(line: str, marker: str, start: int) -> int | None:
    after = line[start + 1 : start + 2]
    if (start and line[start - 1].isalnum()) or not after or after.isspace():
        return None
    for end in range(start + 2, len(line)):
        before, after = line[end - 1], line[end + 1 : end + 2]
        if line[end] == marker and not before.isspace() and not after.isalnum():
            return end
    return None


def shown(raw: str) -> str:
    """What a person sees of raw text: no invisible (format) characters, look-alikes folded."""
    visible = "".join(c for c in raw if unicodedata.category(c) != "Cf")
    return " ".join(visible.translate(SAME_GLYPH).split())


def read(mrkdwn: str) -> str:
    """What a person sees of a mrkdwn string: the three entities decoded, ``&amp;`` last."""
    decoded = mrkdwn.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return shown(decoded)
