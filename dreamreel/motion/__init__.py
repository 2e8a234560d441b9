"""Pure array code for motion: optical flow, consistency masks, warps, colour lock, scene cuts."""
