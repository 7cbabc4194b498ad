"""The learning loop: the jobs that embed, pre-label, retrain, rank and publish."""
