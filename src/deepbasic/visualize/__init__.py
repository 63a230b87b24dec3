"""Looking inside trained networks: figures of what their layers learned.

``plot_filters`` draws a convolution's filters (e.g. the first layer's, found by ``first_conv``)
as a grid of small images; ``filter_grid`` is the image it shows.
"""
from deepbasic.visualize.filters import filter_grid, first_conv, grid_shape, plot_filters

__all__ = ["filter_grid", "first_conv", "grid_shape", "plot_filters"]
