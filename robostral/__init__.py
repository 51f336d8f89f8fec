"""Robostral: train, validate and deploy small vision-language-action policies for industrial arms."""
