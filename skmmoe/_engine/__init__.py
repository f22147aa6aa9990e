"""The torch layer: the network, the training loop and what it runs on."""
