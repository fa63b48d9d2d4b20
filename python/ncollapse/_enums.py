"""The library's enumerations as IntEnum (values pinned as in the header).

Wherever a function takes one, it also accepts the member's lowercase name
(``loss="mse"``, ``algorithm="lbfgs"``) or the integer value.
"""
import enum


class _Enum(enum.IntEnum):
    @classmethod
    def of(cls, value):
        """Coerce a member, its name (any case) or its value."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().upper().replace("-", "_").replace(" ", "_")
            try:
                return cls[key]
            except KeyError:
                pass
            raise ValueError("%s: unknown %s; one of %s" % (value, cls.__name__,
                             ", ".join(m.name.lower() for m in cls)))
        try:
            return cls(int(value))
        except (ValueError, TypeError):
            raise ValueError("%r: not a %s (%s)" % (value, cls.__name__,
                             ", ".join(m.name.lower() for m in cls)))


class Status(_Enum):
    """nc_status: 0 success, > 0 reasons for a successful stop, < 0 failures
    (raised as ncollapse.Error subclasses, never returned)."""
    SUCCESS = 0
    STOP_MAX_ITERATIONS = 1
    STOP_GRADIENT_TOLERANCE = 2
    STOP_CALLBACK = 3
    STOP_NO_PROGRESS = 4
    ERR_NULL_ARGUMENT = -1
    ERR_INVALID_SIZE = -2
    ERR_SIZE_MISMATCH = -3
    ERR_LABEL_OUT_OF_RANGE = -4
    ERR_EMPTY_CLASS = -5
    ERR_NON_FINITE = -6
    ERR_INVALID_VALUE = -7
    ERR_DIVERGED = -8
    ERR_OUT_OF_MEMORY = -9
    ERR_LAPACK = -10
    ERR_UNAVAILABLE = -11
    ERR_UNSUPPORTED = -12
    ERR_OVERFLOW = -13
    ERR_IO = -14
    ERR_FORMAT = -15
    ERR_TRUNCATED = -16
    ERR_FILE_SIZE = -17
    ERR_DTYPE = -18
    ERR_CHECKSUM = -19
    ERR_MISMATCH = -20

    @property
    def c_name(self):
        return "NC_" + self.name


class Loss(_Enum):
    CE = 0
    MSE = 1
    LABEL_SMOOTHING = 2
    FOCAL = 3
    WEIGHTED_CE = 4
    LOGIT_ADJUSTED = 5
    DOT_REGRESSION = 6


class LossParameter(_Enum):
    TARGET_SCALE = 0
    SMOOTHING = 1
    FOCAL_GAMMA = 2
    LOGIT_TAU = 3
    DOT_TARGET = 4


class Features(_Enum):
    FREE = 0
    RELU = 1


class Algorithm(_Enum):
    GD = 0
    NESTEROV = 1
    ADAM = 2
    LBFGS = 3


class Block(_Enum):
    LAYERS = 0
    FEATURES = 1
    BIAS = 2


class Schedule(_Enum):
    CONSTANT = 0
    STEP = 1
    COSINE = 2


class Point(_Enum):
    NOT_STATIONARY = 0
    STRICT_SADDLE = 1
    LOCAL_MINIMUM = 2
    INCONCLUSIVE = 3


class Escape(_Enum):
    NONE = 0
    NEGATIVE_CURVATURE = 1
    REVIVE_CLASS = 2
    FROM_ZERO = 3
    RELOCATE_CLASS = 4


class Metric(_Enum):
    NC1 = 0
    NC2_EQUINORM_MEANS = 1
    NC2_EQUINORM_W = 2
    NC2_EQUIANGLE_MEANS = 3
    NC2_EQUIANGLE_W = 4
    NC2_MAXANGLE_MEANS = 5
    NC2_MAXANGLE_W = 6
    NC2_ETF_MEANS = 7
    NC2_ETF_W = 8
    NC3 = 9
    NC3_WM_ETF = 10
    NC4 = 11
    ACCURACY = 12
    NC1_TRACE_RATIO = 13
    NC1_CDNV_MEAN = 14
    NC1_CDNV_COV = 15
    GNC2_LOG_MEAN = 16
    GNC2_LOG_VAR = 17
    GNC2_RIESZ_MEAN = 18
    GNC2_RIESZ_VAR = 19
    UNC3 = 20
    NC2_LOGNORM_MEANS = 21
    NC2_LOGNORM_W = 22
    INTERFERENCE_MEANS = 23
    INTERFERENCE_W = 24


class GlobalMean(_Enum):
    SAMPLE = 0
    CLASS_AVG = 1


class BetweenWeight(_Enum):
    UNIFORM = 0
    WEIGHTED = 1


class Nc1Path(_Enum):
    """How NC1 is obtained (``nc_nc1_path``); NONE leaves it out (streams:
    AUTO or NONE)."""
    AUTO = 0
    PROJECTED = 1
    SCATTER = 2
    NONE = 3


class PredictionKind(_Enum):
    BALANCED_CE = 0
    BALANCED_MSE = 1
    HONG_LING_CE = 2
    DANG_RELU_CE = 3
    DEEP_LINEAR_MSE = 4
    FIXED_ETF = 5


class Comparison(_Enum):
    OBJECTIVE = 0
    PREDICTED_OBJECTIVE = 1
    OBJECTIVE_GAP = 2
    CLASSIFIER_GRAM = 3
    FEATURE_GRAM = 4
    LOGITS = 5
    COLLAPSE_AGREEMENT = 6


class Verdict(_Enum):
    OPTIMUM = 0
    ABOVE_PREDICTION = 1
    BELOW_PREDICTION = 2
    GEOMETRY_DIFFERS = 3


class MinorityStat(_Enum):
    COS_MAJOR = 0
    COS_MINOR = 1
    COS_ACROSS = 2
    SPREAD = 3


class NpyDtype(_Enum):
    FLOAT32 = 0
    FLOAT64 = 1
    INT8 = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    UINT8 = 6
    UINT16 = 7
    UINT32 = 8
    UINT64 = 9


class ByteOrder(_Enum):
    LITTLE_ENDIAN = 0
    BIG_ENDIAN = 1
