"""The agents, each a thin loop: decode, call the pure core, emit; registered by workers.app."""
