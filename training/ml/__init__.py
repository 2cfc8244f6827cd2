"""Pure PyTorch / transformers code: no Django imports anywhere in this package."""
