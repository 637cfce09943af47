"""Text folding for search: accented Latin letters to their base letters, then lowercase.

PostgreSQL's `sportello_fold` (migration 0007) is `lower(unaccent(...))`; SQLite connections get
`fold` below under the same name. For Latin-1 and Latin Extended-A (every letter Italian and
English text is likely to hold) the map below is exactly what `unaccent` does there, so both
backends fold alike; beyond that range `unaccent` folds further letters that SQLite keeps.
"""

from __future__ import annotations

# Accented Latin-1 and Latin Extended-A letters and their base letters, as unaccent.rules has
# them (tests/tickets/test_search.py compares with PostgreSQL's fold for every one).
FOLD_FROM = (
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩ"
    "ĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſ"
)
FOLD_TO = (
    "aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhii"
    "iiiiiiijjkkllllllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzs"
)
# The letters of the same range that unaccent spells with other letters (or maps at all).
FOLD_OTHER = {
    "Æ": "AE", "Ð": "D", "×": "*", "Ø": "O", "Þ": "TH", "ß": "ss", "æ": "ae", "ð": "d", "÷": "/",
    "ø": "o", "þ": "th", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Ĳ": "IJ", "ĳ": "ij",
    "ĸ": "q", "Ŀ": "L", "ŀ": "l", "Ł": "L", "ł": "l", "ŉ": "'n", "Ŋ": "N", "ŋ": "n", "Œ": "OE",
    "œ": "oe", "Ŧ": "T", "ŧ": "t",
}
_TABLE: dict[int, str] = {**{ord(a): b for a, b in zip(FOLD_FROM, FOLD_TO, strict=True)}, **{ord(k): v for k, v in FOLD_OTHER.items()}}
SQL_NAME = "sportello_fold"


def fold(text: str | None) -> str | None:
    """`text` as the search indexes hold it (None stays None, like SQL's NULL)."""
    if text is None:
        return None
    return text.translate(_TABLE).lower()
