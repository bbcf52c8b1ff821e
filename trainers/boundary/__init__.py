"""MMBoundary's training: step confidence statements learned by SFT, then calibrated by RL (docs/method.md 9)."""
