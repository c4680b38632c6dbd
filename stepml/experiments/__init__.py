"""Online experiments over batch scores: A/B tests, interleaving and shadow comparisons."""
