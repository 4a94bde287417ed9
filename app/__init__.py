"""Shape core: a reference evaluator and a resumable bytecode VM."""
__version__ = "0.1.0"
