"""CDRL (confidence-driven GRPO on clean/noised pairs) on TRL: its configuration (config), the reward components
and the callables TRL calls (rewards), teacher-forced scoring and dev metrics (scoring), the clean/noised pairs and
their dataset (data), and the trainer with `train_cdrl` (trainer). Importing this package imports nothing heavy;
`config` and `trainer` import TRL and torch."""
