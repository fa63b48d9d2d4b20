"""Loading libncollapse.so.0 and declaring its prototypes (once, here).

The library is found, in this order:

1. the ``NCOLLAPSE_LIBRARY`` environment variable (a path to the shared
   library);
2. for the package in the source tree: ``lib/libncollapse.so.0`` beside its
   ``python/`` folder (``PYTHONPATH=python`` after ``make``); for an
   installed package: ``$(LIBDIR)/libncollapse.so.0``, recorded by
   ``make install`` in ``_config.py``;
3. the dynamic loader's search path.

At import the shared library's SONAME must be ``libncollapse.so.0`` (the ABI
this package is written for) and ``nc_version_number()`` must be at least
the version of this package with the same major number; otherwise the import
fails with an ImportError that says which file was found.

Every prototype is written below in the header's own syntax and parsed into
``argtypes``/``restype`` once. Data pointers are declared ``c_void_p`` and
receive the address of a checked NumPy array (see ``_arrays.py``).
"""
import ctypes
import os
import re
import struct

# The release this package was written against (NC_VERSION_* of the header)
# and the ABI number of the shared library (ABI in the Makefile).
VERSION = (0, 1, 0)
VERSION_STRING = "%d.%d.%d" % VERSION
ABI = 0
SONAME = "libncollapse.so.%d" % ABI



def _handle_type(name):
    return ctypes.POINTER(type(name, (ctypes.Structure,), {}))


HANDLE_TYPES = {name: _handle_type(name) for name in (
    "nc_model", "nc_optimizer", "nc_curvature", "nc_metrics", "nc_history", "nc_prediction",
    "nc_npy_reader", "nc_npy_writer", "nc_stream")}

# typedef int (*nc_progress_fn)(const nc_model *, size_t, double, double, void *);
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, HANDLE_TYPES["nc_model"], ctypes.c_size_t,
                               ctypes.c_double, ctypes.c_double, ctypes.c_void_p)

_ENUMS = {"nc_status", "nc_loss", "nc_loss_parameter", "nc_features", "nc_algorithm", "nc_block",
          "nc_schedule", "nc_point", "nc_metric", "nc_global_mean", "nc_between_weight", "nc_nc1_path",
          "nc_prediction_kind", "nc_verdict", "nc_npy_dtype", "nc_npy_byte_order",
          "nc_class_stat"}
_SCALARS = {"size_t": ctypes.c_size_t, "double": ctypes.c_double, "int": ctypes.c_int,
            "unsigned": ctypes.c_uint, "uint64_t": ctypes.c_uint64,
            "nc_progress_fn": PROGRESS_FN}

# Every public function of include/ncollapse.h, in the header's order.
# tests/python/test_library.py checks this list against the header.
PROTOTYPES = """
const char *nc_strerror(nc_status status);
const char *nc_status_name(nc_status status);
const char *nc_version_string(void);
unsigned nc_version_number(void);
nc_status nc_model_create(nc_model **model, size_t d, size_t K, size_t N, const int32_t *labels);
nc_status nc_model_create_counts(nc_model **model, size_t d, size_t K, const size_t *counts);
nc_status nc_model_copy(nc_model **copy, const nc_model *model);
void nc_model_destroy(nc_model *model);
size_t nc_model_dim(const nc_model *model);
size_t nc_model_num_classes(const nc_model *model);
size_t nc_model_num_samples(const nc_model *model);
nc_status nc_model_get_labels(const nc_model *model, int32_t *labels);
nc_status nc_model_get_class_counts(const nc_model *model, size_t *counts);
nc_status nc_model_set_loss(nc_model *model, nc_loss loss);
nc_loss nc_model_get_loss(const nc_model *model);
nc_status nc_model_set_bias(nc_model *model, int enabled);
int nc_model_get_bias(const nc_model *model);
nc_status nc_model_set_weight_decay(nc_model *model, double lambda_W, double lambda_H, double lambda_b);
nc_status nc_model_get_weight_decay(const nc_model *model, double *lambda_W, double *lambda_H, double *lambda_b);
nc_status nc_model_init_gaussian(nc_model *model, double std, uint64_t seed);
nc_status nc_model_set_W(nc_model *model, const double *W, size_t ldw);
nc_status nc_model_set_H(nc_model *model, const double *H, size_t ldh);
nc_status nc_model_set_b(nc_model *model, const double *b);
nc_status nc_model_get_W(const nc_model *model, double *W, size_t ldw);
nc_status nc_model_get_H(const nc_model *model, double *H, size_t ldh);
nc_status nc_model_get_b(const nc_model *model, double *b);
nc_status nc_model_set_features(nc_model *model, nc_features features);
nc_features nc_model_get_features(const nc_model *model);
nc_status nc_model_set_depth(nc_model *model, size_t depth);
size_t nc_model_get_depth(const nc_model *model);
nc_status nc_model_set_layer(nc_model *model, size_t layer, const double *A, size_t lda);
nc_status nc_model_get_layer(const nc_model *model, size_t layer, double *A, size_t lda);
nc_status nc_model_get_product(const nc_model *model, double *P, size_t ldp);
nc_status nc_model_get_layer_features(const nc_model *model, size_t layer, double *Hl, size_t ldh);
nc_status nc_model_get_layer_classifier(const nc_model *model, size_t layer, double *C, size_t ldc);
nc_status nc_model_fix_classifier(nc_model *model, const double *W, size_t ldw);
nc_status nc_model_fix_classifier_etf(nc_model *model, double norm, uint64_t seed, const double *P, size_t ldp);
nc_status nc_model_fix_classifier_orthogonal(nc_model *model, double norm, uint64_t seed, const double *P, size_t ldp);
nc_status nc_model_unfix_classifier(nc_model *model);
int nc_model_classifier_is_fixed(const nc_model *model);
nc_status nc_model_set_loss_parameter(nc_model *model, nc_loss_parameter parameter, double value);
nc_status nc_model_get_loss_parameter(const nc_model *model, nc_loss_parameter parameter, double *value);
nc_status nc_model_set_class_weights(nc_model *model, const double *weights);
nc_status nc_model_set_allnc(nc_model *model, double alpha, double beta);
nc_status nc_model_set_threads(nc_model *model, size_t threads);
size_t nc_model_get_threads(const nc_model *model);
size_t nc_model_num_variables(const nc_model *model);
nc_status nc_model_get_variables(const nc_model *model, double *x);
nc_status nc_model_set_variables(nc_model *model, const double *x);
nc_status nc_model_gradient_vector(nc_model *model, double *objective, double *gradient);
nc_status nc_model_objective(nc_model *model, double *objective);
nc_status nc_model_gradient(nc_model *model, double *objective, double *gW, size_t ldgw, double *gH, size_t ldgh, double *gb);
const char *nc_model_last_error(const nc_model *model);
nc_status nc_optimizer_create(nc_optimizer **optimizer, nc_model *model, nc_algorithm algorithm);
void nc_optimizer_destroy(nc_optimizer *optimizer);
nc_status nc_optimizer_set_learning_rate(nc_optimizer *optimizer, double lr);
nc_status nc_optimizer_set_block_learning_rate(nc_optimizer *optimizer, nc_block block, double lr);
nc_status nc_optimizer_set_feature_learning_rate(nc_optimizer *optimizer, double lr_H);
nc_status nc_optimizer_set_momentum(nc_optimizer *optimizer, double momentum);
nc_status nc_optimizer_set_adam(nc_optimizer *optimizer, double beta1, double beta2, double eps);
nc_status nc_optimizer_set_history(nc_optimizer *optimizer, size_t history);
nc_status nc_optimizer_set_schedule(nc_optimizer *optimizer, nc_schedule schedule, size_t period, double parameter);
nc_status nc_optimizer_set_max_iterations(nc_optimizer *optimizer, size_t max_iterations);
nc_status nc_optimizer_set_gradient_tolerance(nc_optimizer *optimizer, double tol);
nc_status nc_optimizer_set_callback(nc_optimizer *optimizer, nc_progress_fn fn, void *user_data, size_t every);
nc_status nc_optimizer_step(nc_optimizer *optimizer);
nc_status nc_optimizer_run(nc_optimizer *optimizer);
nc_status nc_optimizer_reset(nc_optimizer *optimizer);
size_t nc_optimizer_iterations(const nc_optimizer *optimizer);
double nc_optimizer_objective(const nc_optimizer *optimizer);
double nc_optimizer_gradient_norm(const nc_optimizer *optimizer);
size_t nc_optimizer_evaluations(const nc_optimizer *optimizer);
const char *nc_optimizer_last_error(const nc_optimizer *optimizer);
const char *nc_point_name(nc_point point);
nc_status nc_curvature_create(nc_curvature **curvature, nc_model *model);
void nc_curvature_destroy(nc_curvature *curvature);
nc_status nc_curvature_set_lanczos(nc_curvature *curvature, size_t max_steps, double rtol, uint64_t seed);
nc_status nc_curvature_set_tolerances(nc_curvature *curvature, double gtol, double ctol);
nc_status nc_curvature_compute(nc_curvature *curvature);
nc_point nc_curvature_point(const nc_curvature *curvature);
double nc_curvature_objective(const nc_curvature *curvature);
double nc_curvature_gradient_norm(const nc_curvature *curvature);
double nc_curvature_min_eigenvalue(const nc_curvature *curvature);
double nc_curvature_max_eigenvalue(const nc_curvature *curvature);
double nc_curvature_residual(const nc_curvature *curvature);
double nc_curvature_min_multiplier(const nc_curvature *curvature);
size_t nc_curvature_active_bounds(const nc_curvature *curvature);
size_t nc_curvature_dead_classes(const nc_curvature *curvature, size_t *classes);
size_t nc_curvature_lanczos_steps(const nc_curvature *curvature);
size_t nc_curvature_evaluations(const nc_curvature *curvature);
nc_status nc_curvature_get_direction(const nc_curvature *curvature, double *direction);
const char *nc_curvature_last_error(const nc_curvature *curvature);
nc_status nc_checkpoint_save(const char *path, nc_model *model, const nc_optimizer *optimizer);
nc_status nc_checkpoint_load(const char *path, nc_model *model, nc_optimizer *optimizer);
nc_status nc_metrics_create(nc_metrics **metrics);
void nc_metrics_destroy(nc_metrics *metrics);
nc_status nc_metrics_set_global_mean(nc_metrics *metrics, nc_global_mean convention);
nc_status nc_metrics_set_between_weight(nc_metrics *metrics, nc_between_weight weighting);
nc_status nc_metrics_set_pinv_rtol(nc_metrics *metrics, double rtol);
nc_status nc_metrics_set_nc1_path(nc_metrics *metrics, nc_nc1_path path);
nc_status nc_metrics_set_tile(nc_metrics *metrics, size_t tile);
nc_status nc_metrics_set_threads(nc_metrics *metrics, size_t threads);
nc_status nc_metrics_compute(nc_metrics *metrics, const nc_model *model);
nc_status nc_metrics_compute_data(nc_metrics *metrics, size_t d, size_t K, size_t N, const double *H, size_t ldh, const int32_t *labels, const double *W, size_t ldw, const double *b);
nc_status nc_metrics_compute_layer(nc_metrics *metrics, const nc_model *model, size_t layer);
nc_status nc_metrics_compute_layer_data(nc_metrics *metrics, size_t d, size_t K, size_t N, const double *H, size_t ldh, const int32_t *labels, size_t depth, const double *const *layers, size_t lda, const double *b, size_t layer);
nc_status nc_metrics_get(const nc_metrics *metrics, nc_metric metric, double *value);
const char *nc_metric_name(nc_metric metric);
const char *nc_class_stat_name(nc_class_stat stat);
nc_status nc_metrics_get_class(const nc_metrics *metrics, nc_class_stat stat, size_t K, double *values);
nc_status nc_metrics_save_classes(nc_metrics *metrics, const char *path);
const char *nc_metrics_last_error(const nc_metrics *metrics);
const char *nc_create_last_error(void);
nc_status nc_history_create(nc_history **history);
void nc_history_destroy(nc_history *history);
nc_status nc_history_set_metrics(nc_history *history, const nc_metric *metrics, size_t count);
nc_status nc_history_set_all_layers(nc_history *history, int enabled);
nc_metrics *nc_history_metrics(nc_history *history);
nc_status nc_history_record(nc_history *history, const nc_model *model, size_t step, double objective, double gradient_norm);
size_t nc_history_rows(const nc_history *history);
size_t nc_history_layers(const nc_history *history);
nc_status nc_history_get_row(const nc_history *history, size_t row, size_t *step, double *objective, double *gradient_norm);
nc_status nc_history_get(const nc_history *history, size_t row, size_t layer, nc_metric metric, double *value);
nc_status nc_history_clear(nc_history *history);
nc_status nc_history_save_csv(nc_history *history, const char *path);
nc_status nc_history_save_json(nc_history *history, const char *path);
const char *nc_history_last_error(const nc_history *history);
nc_status nc_frame_simplex_etf(size_t d, size_t K, double *M, size_t ldm);
nc_status nc_frame_orthogonal(size_t d, size_t K, const double *lengths, double *M, size_t ldm);
nc_status nc_frame_random_orthogonal(size_t d, size_t p, uint64_t seed, double *Q, size_t ldq);
nc_status nc_frame_transform(size_t d, size_t K, const double *Q, size_t ldq, double *M, size_t ldm);
nc_status nc_frame_center(size_t d, size_t K, const double *A, size_t lda, const size_t *counts, double *C, size_t ldc);
nc_status nc_frame_norms(size_t d, size_t K, const double *A, size_t lda, double *norms);
nc_status nc_frame_align(size_t d, size_t K, const double *A, size_t lda, const double *T, size_t ldt, double *R, size_t ldr, double *scale, double *residual);
nc_status nc_frame_etf_distance(size_t d, size_t K, const double *A, size_t lda, double *distance);
nc_status nc_frame_orthogonal_distance(size_t d, size_t K, const double *A, size_t lda, double *distance);
nc_status nc_structure_class_means(size_t d, size_t K, size_t N, const double *H, size_t ldh, const int32_t *labels, double *M, size_t ldm, size_t *counts);
nc_status nc_structure_gram(size_t d, size_t K, const double *A, size_t lda, const double *B, size_t ldb, double *G, size_t ldg);
nc_status nc_structure_distance(size_t K, const double *A, size_t lda, const double *T, size_t ldt, double *distance);
nc_status nc_structure_minority(size_t d, size_t K, const double *A, size_t lda, const int *minority, const size_t *counts, double *stats);
nc_status nc_structure_cdnv(size_t d, size_t K, size_t N, const double *H, size_t ldh, const int32_t *labels, double *mean, double *pairs, size_t ldp);
nc_status nc_prediction_create(nc_prediction **prediction, nc_prediction_kind kind, size_t K, const size_t *counts);
void nc_prediction_destroy(nc_prediction *prediction);
nc_status nc_prediction_set_weight_decay(nc_prediction *prediction, double lambda_W, double lambda_H, double lambda_b);
nc_status nc_prediction_set_bias(nc_prediction *prediction, int enabled);
nc_status nc_prediction_set_depth(nc_prediction *prediction, size_t depth);
nc_status nc_prediction_set_dim(nc_prediction *prediction, size_t d);
nc_status nc_prediction_set_classifier_norm(nc_prediction *prediction, double norm);
nc_status nc_prediction_set_tolerance(nc_prediction *prediction, double tol, size_t max_iterations);
nc_status nc_prediction_compute(nc_prediction *prediction);
nc_status nc_prediction_get_objective(const nc_prediction *prediction, double *objective);
nc_status nc_prediction_get_logits(const nc_prediction *prediction, double *Z, size_t ldz);
nc_status nc_prediction_get_classifier_gram(const nc_prediction *prediction, double *G, size_t ldg);
nc_status nc_prediction_get_feature_gram(const nc_prediction *prediction, double *G, size_t ldg);
nc_status nc_prediction_get_bias(const nc_prediction *prediction, double *b);
nc_status nc_prediction_get_norms(const nc_prediction *prediction, double *w_norms, double *h_norms);
nc_status nc_prediction_get_singular_values(const nc_prediction *prediction, double *s);
nc_status nc_prediction_get_feature_scale(const nc_prediction *prediction, double *t);
nc_status nc_prediction_get_collapsed(const nc_prediction *prediction, int *collapsed);
nc_status nc_prediction_get_thresholds(const nc_prediction *prediction, double *lambda);
nc_status nc_prediction_get_critical_count(const nc_prediction *prediction, double *n_crit);
size_t nc_prediction_iterations(const nc_prediction *prediction);
double nc_prediction_residual(const nc_prediction *prediction);
const char *nc_prediction_last_error(const nc_prediction *prediction);
nc_status nc_prediction_create_from_model(nc_prediction **prediction, nc_model *model);
nc_prediction_kind nc_prediction_get_kind(const nc_prediction *prediction);
const char *nc_verdict_name(nc_verdict verdict);
nc_status nc_prediction_compare(nc_prediction *prediction, nc_model *model, double rtol, double *values, nc_verdict *verdict);
nc_status nc_optimizer_set_recorder(nc_optimizer *optimizer, nc_history *history, size_t every);
nc_status nc_optimizer_set_escape(nc_optimizer *optimizer, size_t max_escapes);
nc_status nc_optimizer_set_check(nc_optimizer *optimizer, int enabled);
nc_status nc_optimizer_set_prediction(nc_optimizer *optimizer, nc_prediction *prediction);
size_t nc_optimizer_escapes(const nc_optimizer *optimizer);
size_t nc_optimizer_staged_steps(const nc_optimizer *optimizer);
nc_point nc_optimizer_stop_point(const nc_optimizer *optimizer);
nc_status nc_optimizer_stop_verdict(const nc_optimizer *optimizer, nc_verdict *verdict, double *values);
const char *nc_optimizer_stop_info(const nc_optimizer *optimizer);
const char *nc_npy_dtype_name(nc_npy_dtype dtype);
nc_status nc_npy_reader_create(nc_npy_reader **reader);
void nc_npy_reader_destroy(nc_npy_reader *reader);
nc_status nc_npy_reader_open(nc_npy_reader *reader, const char *path);
void nc_npy_reader_close(nc_npy_reader *reader);
nc_status nc_npy_reader_info(const nc_npy_reader *reader, nc_npy_dtype *dtype, size_t *ndim, size_t *rows, size_t *cols);
nc_status nc_npy_reader_format(const nc_npy_reader *reader, unsigned *version, nc_npy_byte_order *byte_order, int *fortran_order);
nc_status nc_npy_reader_read_rows(nc_npy_reader *reader, size_t row0, size_t nrows, double *out, size_t ld);
nc_status nc_npy_reader_read_rows_float(nc_npy_reader *reader, size_t row0, size_t nrows, float *out, size_t ld);
nc_status nc_npy_reader_read_labels(nc_npy_reader *reader, size_t row0, size_t nrows, int32_t *labels, size_t K);
const char *nc_npy_reader_last_error(const nc_npy_reader *reader);
nc_status nc_npy_writer_create(nc_npy_writer **writer);
void nc_npy_writer_destroy(nc_npy_writer *writer);
nc_status nc_npy_writer_set_format(nc_npy_writer *writer, unsigned version, nc_npy_byte_order byte_order, int fortran_order);
nc_status nc_npy_writer_begin(nc_npy_writer *writer, const char *path, nc_npy_dtype dtype, size_t ndim, size_t rows, size_t cols);
nc_status nc_npy_writer_write_rows(nc_npy_writer *writer, const double *x, size_t nrows, size_t ld);
nc_status nc_npy_writer_write_labels(nc_npy_writer *writer, const int32_t *labels, size_t n);
nc_status nc_npy_writer_finish(nc_npy_writer *writer);
void nc_npy_writer_abort(nc_npy_writer *writer);
const char *nc_npy_writer_last_error(const nc_npy_writer *writer);
nc_status nc_stream_create(nc_stream **stream, size_t d, size_t K);
nc_status nc_stream_copy(nc_stream **copy, const nc_stream *stream);
nc_status nc_stream_set_threads(nc_stream *stream, size_t threads);
size_t nc_stream_get_threads(const nc_stream *stream);
nc_status nc_stream_set_nc1_path(nc_stream *stream, nc_nc1_path path);
nc_nc1_path nc_stream_get_nc1_path(const nc_stream *stream);
nc_status nc_stream_get_class_means(const nc_stream *stream, double *M, size_t ldm, size_t *counts);
void nc_stream_destroy(nc_stream *stream);
nc_status nc_stream_set_classifier(nc_stream *stream, const double *W, size_t ldw, const double *b);
nc_status nc_stream_add(nc_stream *stream, size_t n, const double *H, size_t ldh, const int32_t *labels);
nc_status nc_stream_add_float(nc_stream *stream, size_t n, const float *H, size_t ldh, const int32_t *labels);
nc_status nc_stream_merge(nc_stream *stream, const nc_stream *other);
nc_status nc_stream_next_pass(nc_stream *stream);
int nc_stream_pass(const nc_stream *stream);
size_t nc_stream_num_samples(const nc_stream *stream);
const char *nc_stream_last_error(const nc_stream *stream);
nc_status nc_metrics_compute_stream(nc_metrics *metrics, const nc_stream *stream);
nc_status nc_stream_save(const char *path, nc_stream *stream);
nc_status nc_stream_load(const char *path, nc_stream *stream);
"""

_DECL = re.compile(r"^\s*(.*?)\b(nc_\w+)\((.*)\);\s*$")


def _ctype(text, where):
    """The ctypes type of a C type as written in the header."""
    t = " ".join(text.replace("*", " * ").split())
    stars = t.count("*")
    base = " ".join(w for w in t.split() if w not in ("const", "*"))
    if stars == 0:
        if base == "void":
            return None
        if base in _ENUMS:
            return ctypes.c_int
        if base in _SCALARS:
            return _SCALARS[base]
    elif base == "char" and stars == 1:
        return ctypes.c_char_p
    elif base in HANDLE_TYPES:
        t = HANDLE_TYPES[base]
        return t if stars == 1 else ctypes.POINTER(t)
    else:
        return ctypes.c_void_p  # data: the address of a checked array, or byref()
    raise TypeError("%s: no ctypes type for %r" % (where, text))


def parse_prototypes(text=PROTOTYPES):
    """[(name, restype, argtypes)] of the declarations in text."""
    out = []
    for line in text.strip().splitlines():
        m = _DECL.match(line)
        if not m:
            raise ValueError("not a prototype: %r" % line)
        ret, name, args = m.groups()
        argtypes = []
        if args.strip() != "void":
            for a in args.split(","):
                a = a.strip()
                pname = re.search(r"(\w+)$", a).group(1)
                argtypes.append(_ctype(a[: len(a) - len(pname)], name))
        out.append((name, _ctype(ret, name), argtypes))
    return out


def read_soname(path):
    """DT_SONAME of an ELF shared library, or None if it cannot be read."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:4] != b"\x7fELF":
        return None
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        sh_fmt, dyn_fmt = end + "IIQQQQIIQQ", end + "qQ"
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        sh_fmt, dyn_fmt = end + "IIIIIIIIII", end + "iI"
    try:
        sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
        for s in sections:
            if s[1] != 6:  # SHT_DYNAMIC
                continue
            offset, size, link = s[4], s[5], s[6]
            strtab = sections[link][4]
            step = struct.calcsize(dyn_fmt)
            for pos in range(offset, offset + size, step):
                tag, val = struct.unpack_from(dyn_fmt, data, pos)
                if tag == 0:
                    break
                if tag == 14:  # DT_SONAME
                    stop = data.index(b"\0", strtab + val)
                    return data[strtab + val:stop].decode()
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _candidates():
    env = os.environ.get("NCOLLAPSE_LIBRARY")
    if env:
        return [("NCOLLAPSE_LIBRARY", env)]
    try:
        from . import _config  # written by make install: an installed package
    except ImportError:
        _config = None
    if _config is None:
        here = os.path.dirname(os.path.abspath(__file__))
        out = [("the build tree", os.path.join(here, os.pardir, os.pardir, "lib", SONAME))]
    else:
        out = [("the installed library", os.path.join(_config.LIBDIR, SONAME))]
    out.append(("the dynamic loader's path", SONAME))
    return out


def _load():
    tried = []
    for how, path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (%s): no such file" % (path, how))
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s): %s" % (path, how, e))
            if how == "NCOLLAPSE_LIBRARY":
                break
            continue
        return lib, path, how
    raise ImportError("ncollapse: cannot load %s; tried:\n  %s\n(build it with `make` in the "
                      "source tree, install it with `make install`, or set NCOLLAPSE_LIBRARY)"
                      % (SONAME, "\n  ".join(tried)))


def _check(lib, path, how):
    real = path
    if os.sep not in path:
        # Found by the loader: ask it where (dladdr through a known symbol).
        real = _loaded_path(lib) or path
    soname = read_soname(real) if os.path.exists(real) else None
    if soname is not None and soname != SONAME:
        raise ImportError("ncollapse: %s (%s) has SONAME %s; this package needs %s (ABI %d)"
                          % (real, how, soname, SONAME, ABI))
    try:
        number = lib.nc_version_number
    except AttributeError:
        raise ImportError("ncollapse: %s (%s) is not libncollapse (no nc_version_number)"
                          % (real, how))
    number.restype, number.argtypes = ctypes.c_uint, []
    have = number()
    need = VERSION[0] * 10000 + VERSION[1] * 100 + VERSION[2]
    if have // 10000 != VERSION[0] or have < need:
        raise ImportError("ncollapse: %s (%s) is version %d.%d.%d; this package needs %d.%d.x "
                          "with x >= %d, or a later minor version of the same major"
                          % (real, how, have // 10000, have // 100 % 100, have % 100,
                             VERSION[0], VERSION[1], VERSION[2]))
    return real


def _loaded_path(lib):
    class _DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (OSError, AttributeError):
        return None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    info = _DlInfo()
    addr = ctypes.cast(lib.nc_version_number, ctypes.c_void_p).value
    if dladdr(addr, ctypes.byref(info)) and info.dli_fname:
        return os.path.realpath(info.dli_fname.decode())
    return None


lib, _path, FOUND_BY = _load()
PATH = os.path.realpath(_check(lib, _path, FOUND_BY))

for _name, _res, _args in parse_prototypes():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        raise ImportError("ncollapse: %s lacks %s (a library older than %s?)"
                          % (PATH, _name, VERSION_STRING))
    _f.restype = _res
    _f.argtypes = _args
    globals()[_name] = _f
del _name, _res, _args, _f


def text(b):
    """A C string returned by the library, as str."""
    return b.decode("utf-8", "replace") if b is not None else ""
