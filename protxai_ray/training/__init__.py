"""Training of the shipped demo classifiers (membrane, its shuffled-label control, EC level 1)."""
