"""Review together: notes pinned to moments, corrections of the model's answers, agreement."""
