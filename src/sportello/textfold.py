"""Text folding for search: accented Latin letters to their base letter, then lowercase.

One definition for both backends: PostgreSQL's `sportello_fold` (migration 0007) applies the
same map with `translate`, and SQLite connections get this function under that name.
"""

from __future__ import annotations

# Accented Latin-1 and Latin Extended-A letters and their base letters; migration 0007 holds a
# frozen copy (tests/tickets/test_search.py checks that they agree).
FOLD_FROM = (
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩ"
    "ĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſ"
)
FOLD_TO = (
    "aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhii"
    "iiiiiiijjkkllllllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzs"
)
_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)
SQL_NAME = "sportello_fold"


def fold(text: str | None) -> str | None:
    """`text` as the search indexes hold it (None stays None, like SQL's NULL)."""
    if text is None:
        return None
    return text.translate(_TABLE).lower()
