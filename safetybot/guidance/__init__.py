"""What the bot knows and reads: helplines, red flags, the models and how they are judged."""
