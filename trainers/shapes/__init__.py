"""The ShapesVQA trainers: the role-mixed SFT streams (roles), the bundled base and expert recipes (models), the
format-only smoke model the tests serve (smoke), and the contrastive ShapesVQA CLIP (clip)."""
