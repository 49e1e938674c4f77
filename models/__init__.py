"""The PyTorch side of live-nst: VGG-19 loss network, losses, Gatys optimisation,
style networks and their training. Needs the ``[train]`` extra."""
