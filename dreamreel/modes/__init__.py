"""The render modes (still, atlas, video and its frame chain, zoom) and the loop they share.

Named ``modes`` rather than ``render`` because ``dreamreel.render`` is the Python surface's
function (``from dreamreel import render``)."""
