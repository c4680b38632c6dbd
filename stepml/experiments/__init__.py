"""Online tests of batch scores: assignment, serving, interleaving and the read-out's statistics."""
