"""Speed: choices measured on the machine, what a render asks of a GPU, host-to-device transfers,
and the background thread that reads ahead."""
