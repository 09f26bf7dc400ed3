"""Activity deconfliction: a register of ongoing activities and overlap detection on shared targets."""
