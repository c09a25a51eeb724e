"""The agents, one per stage, each a thin loop: decode, call the pure core, emit."""
