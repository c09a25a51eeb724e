"""The pure decision core, called directly."""
