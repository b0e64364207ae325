"""How citeqa's models run: backend and precision policy, the optimized-model cache, conversion, the runners."""
