"""What operators read: report text rendered from figures, with no I/O."""
