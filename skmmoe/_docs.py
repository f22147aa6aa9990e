"""The estimators' shared docstring sections (numpydoc), in one place."""

from ._version import __version__

__all__ = ["ATTRIBUTES", "DIFFERENCES", "DOCS_URL", "PARAMETERS", "api_page"]

# The documentation site (docs/, built by Sphinx, published by Read the Docs from
# .readthedocs.yaml): "latest" for development versions, else the release's own.
DOCS_URL = "https://skmmoe.readthedocs.io/en/{}/".format(
    "latest" if "dev" in __version__ else __version__
)


def api_page(qualified_name: str) -> str:
    """The path of an object's API page in the built site, relative to its root."""
    return f"generated/{qualified_name}.html"


PARAMETERS = """
    Parameters
    ----------
    num_experts : int, default=3
        Number of experts. 1 gives the shared-bottom baseline of the MMoE paper.
    expert_dnn_hidden_units : tuple of int, default=(256, 128)
        Layer widths of each expert MLP.
    gate_dnn_hidden_units : tuple of int, default=(64,)
        Hidden widths of each task's gate before its linear map to ``num_experts``
        logits and the softmax; ``()`` makes each gate a single linear map.
    shared_gate : bool, default=False
        One gate for all tasks instead of one per task: the One-gate
        Mixture-of-Experts (OMoE) baseline of the MMoE paper (Ma et al., KDD 2018,
        sections 4 and 5), against which its per-task gates are measured
        (``examples/paper_synthetic.py``, ``examples/paper_census.py``). With
        ``num_experts=1`` both are the shared-bottom model.
    tower_dnn_hidden_units : tuple of int, default=(64,)
        Layer widths of each task's tower; ``()`` feeds the mixture straight into the
        task's output layer.
    l2_reg_linear : float, default=1e-5
        Accepted for compatibility with DeepCTR-Torch's ``MMOE`` and has no effect:
        MMoE has no linear part.
    l2_reg_embedding : float, default=1e-5
        L2 strength on the embeddings, applied to the embedding vectors looked up in
        each batch (mean over the batch of their squared norm), not to whole tables.
    l2_reg_dnn : float, default=0.0
        L2 strength on every expert, gate and tower weight (not biases, not batch
        norm).
    init_std : float, default=1e-4
        Standard deviation of the normal init of embeddings. Linear layers use
        PyTorch's default init; the reference also draws them from N(0, init_std),
        which slows training.
    seed : int or None, default=1024
        Seeds initialisation, shuffling, dropout and the validation split: two fits
        with the same seed give identical predictions. torch's global RNG is left
        as it was. None draws a fresh seed per fit.
    dnn_dropout : float in [0, 1), default=0.0
        Dropout rate after each hidden layer of experts, gates and towers.
    dnn_activation : str, default="relu"
        Activation of the hidden layers: 'relu', 'tanh', 'sigmoid', 'gelu', 'silu'
        (or 'swish'), 'elu', 'selu', 'leaky_relu', 'softplus', 'prelu' or 'linear'.
    dnn_use_bn : bool, default=False
        Batch norm between each hidden layer and its activation.
    task_types : tuple of str or None, default=None
        One of 'binary', 'multiclass', 'regression', 'poisson' (counts: log link,
        Poisson deviance, predictions >= 0) per task, validated against y. None
        infers them from y: non-numeric labels and integers are classes (binary
        for two, multiclass for more); floats with more than two distinct values
        are regression; 'poisson' is never inferred.
    task_names : tuple of str or None, default=None
        None takes the columns of a y DataFrame, else 'task_0', 'task_1', ...
    device : str or torch.device, default="cpu"
        'cpu', 'cuda', 'cuda:N', or 'auto' (CUDA when available). An unavailable
        device raises a ValueError at fit.
    gpus : list of int or None, default=None
        GPU ids for data-parallel training; ``gpus[0]`` is the main device.
    categorical_features : "auto", None, or array-like of str, int or bool, \
default="auto"
        Columns to embed. "auto" takes the object, string, category and bool columns
        of a DataFrame (none of an array); or column names, indices or a boolean
        mask. Categories unseen in fit, and missing values, share a reserved index.
    preprocessor : ColumnTransformer, FrozenEstimator or None, default=None
        None builds one: categorical columns ordinal-encoded for embeddings, numeric
        ones encoded as ``numeric_encoding`` says. A user's
        ColumnTransformer is cloned and fitted; the outputs of its
        ``OrdinalEncoder`` steps feed embeddings, all other outputs the dense input.
        A fitted ColumnTransformer wrapped in scikit-learn's
        ``FrozenEstimator`` is used as it is, never refitted, by ``fit``,
        ``partial_fit`` and every ``clone``: an encoding fitted once on all the
        data (all categories) survives a search or a stream of chunks.
    embedding_dim : int, "auto" or dict, default=8
        Embedding width of each categorical feature (and list column, and bin
        embedding). "auto": DeepCTR's rule ``6 * int(rows ** 0.25)`` for a
        table of ``rows`` rows (18 for 100 values, 30 for 1,000, 186 for 1M). A
        dict maps column names to widths; columns it does not name get 8.
        Columns that share a table (``shared_embeddings``) need one width.
    numeric_encoding : {"scaled+embedding", "piecewise_linear+embedding", \
"scaled", "piecewise_linear", "quantile_embedding"}, default="scaled+embedding"
        How the built-in preprocessor feeds numeric columns to the network. Each
        column is cut into at most ``n_bins`` bins the way a gradient-boosted
        tree's histogram does it: a column with at most ``n_bins`` distinct values
        (small integers, flags) gets one bin per value; otherwise bins are
        quantiles, and a value holding more than one bin's share of the rows (the
        0 of an amount that is zero for most rows, the 40 of working hours) gets a
        bin of its own, so its information is not lost.

        - "scaled": median-imputed (with missing indicators) and standardised, one
          dense input each.
        - "piecewise_linear": the piecewise-linear encoding over the bins
          (Gorishniy et al., "On Embeddings for Numerical Features in Tabular
          Deep Learning", NeurIPS 2022), after median imputation with missing
          indicators: one dense input per bin.
        - "quantile_embedding": the column's bin as a category with its own
          embedding of ``embedding_dim`` (missing values at the reserved index).
        - "scaled+embedding", "piecewise_linear+embedding": the dense encoding
          and the bin embedding together; the network sees both the value and
          which bin it falls in, as a tree sees thresholds.

        The default was chosen by measurement against HistGradientBoosting on
        three data sets (``benchmarks/vs_gbdt.py``, results in BENCHMARKS.md):
        "scaled+embedding" is level with "piecewise_linear+embedding" in quality
        and faster; both are ahead of the single encodings on tables with
        zero-inflated amounts and small integers.
    n_bins : int, default=32
        At most this many bins per numeric column (scikit-learn's
        ``KBinsDiscretizer`` calls it ``n_bins``; HistGradientBoosting, which
        uses 255, ``max_bins``). Bin embeddings cost the same whatever their
        number; the piecewise-linear encoding adds one dense input per bin.
    combiner : {"mean", "sum", "max"} or dict, default="mean"
        How a list-valued column's element embeddings are pooled into one (the
        name is DeepCTR's ``VarLenSparseFeat`` argument): their mean, sum or
        element-wise max; a dict maps list columns to combiners ("mean" for
        columns it does not name). A list column is one whose values are lists,
        tuples or 1-D arrays of scalars (missing values aside), or an Arrow or
        polars list column; it is found whatever ``categorical_features`` says,
        gets its own vocabulary of elements (unseen elements at the reserved
        index 0), and a missing value or an empty list pools to zeros. Lists
        keep their own lengths: no row is padded to the longest. Needs the
        built-in preprocessor (``preprocessor=None``).
    max_list_length : int, dict or None, default=None
        Keep the first ``max_list_length`` elements of each list (missing
        elements dropped first), in fit and predict: a cap against
        pathological rows, whose lookups would otherwise make one batch as
        costly as many. A dict maps list columns to caps. None keeps every
        element.
    min_frequency : int, float or None, default=None
        Categories (and list elements) seen fewer than ``min_frequency`` times
        in fit (an int), or fewer than ``min_frequency * n_samples`` times (a
        float in (0, 1)), are infrequent: they share one embedding row of their
        own, apart from the reserved row of unknown and missing values.
        scikit-learn's ``OneHotEncoder`` meaning. Built-in preprocessor only.
    max_categories : int or None, default=None
        At most this many embedding rows per column besides the reserved one,
        the infrequent group's included: the most frequent categories are kept.
        scikit-learn's ``OneHotEncoder`` meaning. Built-in preprocessor only.
    hash_buckets : int, dict or None, default=None
        Hash categorical and list columns' values into this many buckets
        (MurmurHash3 of their text, as scikit-learn's ``FeatureHasher``)
        instead of learning a vocabulary: values first seen in later
        ``partial_fit`` chunks get rows of their own (shared by collisions)
        rather than the reserved unknown row. A dict maps columns to bucket
        counts, leaving the others unhashed. Not with ``min_frequency`` or
        ``max_categories``.
    shared_embeddings : dict or None, default=None
        ``{column: other_column}``: ``column`` looks up ``other_column``'s
        embedding table (DeepCTR's ``embedding_name``, torch-rechub's
        ``shared_with``): a ``recent_items`` list column and an ``item_id``
        column see the same item embeddings. The columns get one vocabulary,
        the union of their values. Categorical and list columns only.
    epochs : int or "auto", default="auto"
        Passes over the training data. "auto": at least 2, and on small data
        enough to make at least 250 optimizer steps (at most 200 epochs): about
        6 epochs for 25,000 rows at the default batch size, 2 from 64,000 rows on.
    batch_size : int, default=512
        Mini-batch size.
    optimizer : {"adam", "adamw", "sgd", "adagrad", "rmsprop"}, default="adam"
        "sgd" uses momentum 0.9.
    learning_rate : float, default=4e-3
        Learning rate of the optimizer at the start of training.
    lr_schedule : {"linear", "cosine", "constant", "plateau"}, default="linear"
        How the learning rate moves, by ``torch.optim.lr_scheduler``: "linear"
        decays it over the planned ``epochs``, step by step, towards zero at the
        last step, "cosine" along a half cosine (Loshchilov and Hutter, ICLR 2017,
        without restarts), "constant" keeps it, and "plateau"
        (``ReduceLROnPlateau``) halves it after ``max(1, n_iter_no_change // 2)``
        epochs without improvement of the validation loss (with
        ``early_stopping=True``; else of the training loss), which suits a fit
        with many ``epochs`` ended by early stopping. With early stopping the
        decays still span ``epochs``; the later calls of :meth:`partial_fit`
        train at the constant ``learning_rate``. ``history_`` records each
        epoch's starting learning rate. Linear decay from 4e-3 was measured
        better than a constant 2e-3 for the same epochs
        (``benchmarks/vs_gbdt.py``); on census, "linear" and "cosine" gave the
        best test AUC, "plateau" with early stopping no better in 3.4x the time
        (``benchmarks/lr_schedule.py``).
    loss_weights : tuple of float or None, default=None
        Weight of each task's loss in the total; None weighs all tasks 1.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the rows (stratified on the first
        classification task), stop after ``n_iter_no_change`` epochs without
        improvement of the loss-weighted mean validation loss, and restore the best
        weights. "auto": on in ``fit`` where ``epochs="auto"`` makes more than 2
        passes over the data (fewer than 64,000 rows at the default batch size)
        and the held-out share has at least 200 rows (2,000 rows at the default
        ``validation_fraction``); off otherwise, and in ``partial_fit``. Many
        passes over a small table overfit a noisy target: on
        ``benchmarks/vs_gbdt.py``'s public tables early stopping raised the R^2 of
        wine quality from 0.15 to 0.32 and of the flights' delays from -0.36 to
        0.07, and held the census and mixed tables level; from 64,000 rows on the
        2 planned epochs leave nothing to stop, and all rows train.
    validation_fraction : float in (0, 1), default=0.1
        Share of rows held out when early stopping is on.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    clip_grad_norm : float or None, default=None
        Clip the gradient norm to this value at each step.
    class_weight : "balanced", dict, list or None, default=None
        Weights of the classes of classification tasks, multiplying
        ``sample_weight``: "balanced" weighs each class by n_samples / (n_classes *
        its count); a dict maps labels to weights (single task); a list gives one
        of these (or None) per task, None for tasks that predict values
        (regression, poisson).
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Training arithmetic. "bfloat16" trains under autocast (matmuls in bfloat16,
        losses in float32): faster on CPUs with bfloat16 instructions and on GPUs;
        "float16" is for CUDA only (with loss scaling). Prediction always runs in
        float32. Measured effect on speed and AUC: BENCHMARKS.md.
    n_jobs : int or None, default=None
        CPU threads used while training (torch's intra-op threads; prediction
        uses torch's setting). None: the threads torch has, which follow
        ``OMP_NUM_THREADS``, ``threadpoolctl.threadpool_limits`` and the limits
        joblib sets in its workers; training checks every so often whether one
        thread is clearly faster, as it is beside a busy process (torch's
        threads spin while they wait), and then uses one: beside a busy process
        on two cores a census fit took 1.8x its time alone, against 3.3x with two
        threads throughout (``benchmarks/under_load.py``; 12.7x on another
        machine). An int: exactly that many throughout
        (negative counts from the usable cores, as in joblib: -1 is all), for fits
        that are bit-identical whatever the load.
    n_workers : int or None, default=None
        Data-parallel training on this machine: ``fit`` starts this many Python
        processes, which train in a gloo process group (each on its share of
        every batch, with its share of the cores) and hand the fitted model back:
        the weights one process would reach, up to float rounding (measured:
        within 6e-8 after 3 epochs on small data, 4.2e-5 after one epoch on
        3,000 census rows). None or 1: training in this process.
        Refused inside a joblib or dask worker. Under ``torchrun``, Ray Train or
        ``accelerate`` leave it None: when ``torch.distributed`` is initialised,
        ``fit`` trains data-parallel in that group (README "Data-parallel
        training"). It does not pay on one 2-core machine, where the workers
        share the cores one process's threads would use: see BENCHMARKS.md.
    verbose : int, default=0
        0 prints nothing (warnings aside); 1 a progress bar per epoch with the
        per-task loss on stderr (tqdm's when tqdm is installed).
"""

ATTRIBUTES = """
    Attributes
    ----------
    task_names_ : list of str
        Name of each task.
    task_types_ : list of str
        'binary', 'multiclass', 'regression' or 'poisson' per task.
    n_tasks_ : int
        Number of tasks.
    feature_columns_ : list of FeatureColumn
        One entry per network input: ``name``, ``kind`` ('sparse', 'list' or
        'dense'), ``vocabulary_size`` and ``embedding_dim`` (None for dense
        inputs), ``table`` (a number shared by the columns of one
        ``shared_embeddings`` table, else None) and ``combiner`` (list
        columns').
    preprocessor_ : ColumnTransformer
        The fitted preprocessor.
    network_ : torch.nn.Module
        The fitted MMoE network (on the training device; pickled on the CPU).
    history_ : list of dict
        One dict per epoch: 'epoch', 'train_loss' (per task), 'seconds', and with
        early stopping 'valid' (metrics per task) and 'valid_objective'.
    best_epoch_ : int or None
        Epoch whose weights were kept by early stopping; None without it.
    n_epochs_ : int
        Epochs trained.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when X was a DataFrame with string column names.
"""

DIFFERENCES = """
    Notes
    -----
    The network follows DeepCTR-Torch's ``MMOE`` (same parameter names and
    defaults). Where it differs on purpose: features are built from a
    ColumnTransformer inside fit; unseen or missing categories map to a reserved
    index instead of failing; ids stay integers (the reference passes them through
    float32); linear layers use PyTorch's default init; the loss is the weighted mean
    over samples (not the sum), so its scale does not depend on the batch size; any
    number of tasks and experts (>= 1) and multiclass tasks are allowed; regression
    targets are standardised during training; torch's global RNG is never reseeded;
    nothing is printed at ``verbose=0``.
"""
