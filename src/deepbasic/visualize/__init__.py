"""Looking inside trained networks: figures of what their layers learned.

``plot_filters`` draws a convolution's filters (e.g. the first layer's, found by ``first_conv``)
as a grid of small images; ``filter_grid`` is the image it shows.

Which pixels a decision depends on (:mod:`~deepbasic.visualize.saliency`): ``saliency``,
``guided_backprop``, ``input_gradient``, ``occlusion_map``. Images optimized with the weights
fixed (:mod:`~deepbasic.visualize.ascent`): ``class_visualization``,
``activation_maximization``, ``fooling_image``. Inside the network
(:mod:`~deepbasic.visualize.features`): ``activations``, ``activation_grid``,
``hidden_features``, ``nearest_neighbors``, ``neighbors``. Their figures
(:mod:`~deepbasic.visualize.figures`): the ``plot_*`` functions.
"""
from deepbasic.visualize.ascent import (activation_maximization, class_visualization,
                                        fooling_image)
from deepbasic.visualize.features import (activation_grid, activations, hidden_features,
                                          nearest_neighbors, neighbors)
from deepbasic.visualize.figures import (plot_activations, plot_fooling, plot_gradients,
                                         plot_images, plot_neighbors, plot_occlusion,
                                         plot_saliency)
from deepbasic.visualize.filters import filter_grid, first_conv, grid_shape, plot_filters
from deepbasic.visualize.saliency import (guided_backprop, input_gradient, occlusion_map,
                                          saliency)

__all__ = ["activation_maximization", "class_visualization", "fooling_image", "filter_grid",
           "activation_grid", "activations", "hidden_features", "nearest_neighbors", "neighbors",
           "plot_activations", "plot_fooling", "plot_gradients", "plot_images", "plot_neighbors",
           "plot_occlusion", "plot_saliency", "first_conv", "grid_shape", "plot_filters",
           "guided_backprop", "input_gradient", "occlusion_map", "saliency"]
