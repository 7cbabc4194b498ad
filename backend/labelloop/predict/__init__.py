"""Answering Label Studio's /predict: from stored predictions, validated before they leave."""
