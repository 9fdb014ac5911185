"""Screens pushed over the main one: help, editors, prompts."""
