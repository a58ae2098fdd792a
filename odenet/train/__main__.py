"""``python -m odenet.train`` (also what ``torchrun -m odenet.train`` runs)."""

from odenet.train.cli import main

if __name__ == "__main__":
    main()
