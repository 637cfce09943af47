"""Personal data: data-subject requests (export, erasure) and retention."""
