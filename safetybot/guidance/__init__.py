"""What the bot knows and reads: helplines and services, red flags, the learned models and how they are judged."""
