/* The batch lookup's per-value path in C: canonical shapes and keyed digests (issue #5).
 *
 * Why native code: a 100,000-value batch lookup (benchmarks/lookup.py, 1M stored, 10 % hits)
 * spent ~0.22 s of CPU parsing values and building their keys and 0.10 s on the keyed digests
 * in Python (docs/fusion.md, Known limits, 2026-11-27), against a 0.5 s budget for the whole
 * lookup; the Python floor there is the interpreter's per-value overhead, not the work. This
 * module does, for every value of the batch in one call, what ``hits.parse_value`` and
 * ``hits.value_digests`` do for values already in one of the common canonical shapes (the
 * ``hits._CANONICAL`` regex: dotted quad, hex hash, lower-case name, http(s) URL on such a name,
 * e-mail address on such a name, uncompressed lower-case IPv6, Bitcoin base58), and hands every other value
 * back to the Python path by its index. The measured gain is in docs/fusion.md.
 *
 * Contract (checked by tests/fusion/test_fusion_native.py against the pure-Python path): a
 * value this module accepts gets exactly the (kind, value) pair ``hits._canonical`` gives it
 * (kind filter applied as ``parse_value`` applies it) and exactly ``value_digest``'s 16 bytes;
 * anything it is unsure of is left to Python. It may refuse more than ``_canonical``, never
 * accept differently.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_API_COMPAT 0x10100000L  /* SHA256_Init & co.: deprecated in 3.0, still the
                                           fastest way to copy a keyed state (a plain struct) */
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <openssl/sha.h>

#define DIGEST_BYTES 16
#define BLOCK 64

enum { K_IPV4, K_IPV6, K_DOMAIN, K_URL, K_EMAIL, K_MD5, K_SHA1, K_SHA256, K_SHA512, K_BTC, K_COUNT };

static const char *const KIND_NAMES[K_COUNT] = {
    "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "md5", "sha1", "sha256", "sha512", "btc",
};
static PyObject *kind_objects[K_COUNT];

/* --- shapes (each the exact language of its alternative in hits._CANONICAL) ------------------ */

static inline int is_lower_alpha(unsigned char c) { return c >= 'a' && c <= 'z'; }
static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_label_char(unsigned char c) { return is_lower_alpha(c) || is_digit(c) || c == '_' || c == '-'; }
static inline int is_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static inline int is_lower_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
static inline int is_atom_char(unsigned char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '+' || c == '-';
}
/* The URL's rest after [/?#]: [!-')-Z\]-z|}~] */
static inline int is_rest_char(unsigned char c) {
    return (c >= 0x21 && c <= 0x27) || (c >= 0x29 && c <= 0x5A) || (c >= 0x5D && c <= 0x7A) || c == '|' || c == '}' ||
           c == '~';
}

static int contains(const unsigned char *s, Py_ssize_t n, const char *needle) {
    Py_ssize_t m = (Py_ssize_t)strlen(needle);
    for (Py_ssize_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, needle, (size_t)m) == 0)
            return 1;
    return 0;
}

/* _NAME = (?:LABEL\.)+[a-z]{2,63}, LABEL = (?!-)[a-z0-9_-]{1,63}(?<!-): labels hold no dot, so
 * the split is fixed. */
static int is_name(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t start = 0, labels = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        Py_ssize_t len = i - start;
        if (i == n) { /* the top label */
            if (labels < 1 || len < 2 || len > 63)
                return 0;
            for (Py_ssize_t j = start; j < i; j++)
                if (!is_lower_alpha(s[j]))
                    return 0;
            return 1;
        }
        if (len < 1 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return 0;
        for (Py_ssize_t j = start; j < i; j++)
            if (!is_label_char(s[j]))
                return 0;
        labels++;
        start = i + 1;
    }
    return 0;
}

/* _canonical's further checks on a name: at most 253 characters, no A-label. */
static int name_ok(const unsigned char *s, Py_ssize_t n) {
    return n <= 253 && is_name(s, n) && !contains(s, n, "xn--");
}

static int is_ipv4(const unsigned char *s, Py_ssize_t n) {
    /* (?:OCTET\.){3}OCTET, OCTET = 25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]: 0-255, no leading zero */
    Py_ssize_t i = 0;
    for (int part = 0; part < 4; part++) {
        Py_ssize_t start = i;
        int value = 0;
        while (i < n && is_digit(s[i]) && i - start < 4)
            value = value * 10 + (s[i++] - '0');
        Py_ssize_t len = i - start;
        if (len < 1 || len > 3 || value > 255 || (len > 1 && s[start] == '0'))
            return 0;
        if (part < 3) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
    }
    return i == n;
}

static int is_ipv6(const unsigned char *s, Py_ssize_t n) {
    /* HEXTET(?::HEXTET){7}, HEXTET = 0|[1-9a-f][0-9a-f]{0,3}; then no two zero groups in a row */
    Py_ssize_t i = 0;
    int previous_zero = 0;
    for (int part = 0; part < 8; part++) {
        Py_ssize_t start = i;
        while (i < n && is_lower_hex(s[i]) && i - start < 5)
            i++;
        Py_ssize_t len = i - start;
        if (len < 1 || len > 4 || (len > 1 && s[start] == '0'))
            return 0;
        int zero = (len == 1 && s[start] == '0');
        if (zero && previous_zero)
            return 0;
        previous_zero = zero;
        if (part < 7) {
            if (i >= n || s[i] != ':')
                return 0;
            i++;
        }
    }
    return i == n;
}

static int url_ok(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i;
    if (n >= 7 && memcmp(s, "http://", 7) == 0)
        i = 7;
    else if (n >= 8 && memcmp(s, "https://", 8) == 0)
        i = 8;
    else
        return 0;
    Py_ssize_t host = i;
    while (i < n && (is_label_char(s[i]) || s[i] == '.'))
        i++;
    if (!name_ok(s + host, i - host))
        return 0;
    if (i < n) {
        if (s[i] != '/' && s[i] != '?' && s[i] != '#')
            return 0;
        for (Py_ssize_t j = i + 1; j < n; j++)
            if (!is_rest_char(s[j]))
                return 0;
    }
    /* text.count("://") == 1: the scheme's one */
    return !contains(s + host, n - host, "://");
}

static int email_ok(const unsigned char *s, Py_ssize_t n) {
    /* [A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@NAME, at most 64 before the "@" */
    Py_ssize_t i = 0, atom = 0;
    for (; i < n && s[i] != '@'; i++) {
        if (s[i] == '.') {
            if (atom == 0)
                return 0;
            atom = 0;
        } else if (is_atom_char(s[i])) {
            atom++;
        } else {
            return 0;
        }
    }
    if (i >= n || atom == 0 || i > 64)
        return 0;
    return name_ok(s + i + 1, n - i - 1);
}

/* Bitcoin base58 (P2PKH, P2SH) as hits._canonical takes it: the shape [123mn][base58]{25,34},
 * nothing refang might touch (hits._DEFANG_HINT: in base58 only hxxp/htxp/hxtp/fxp, any case),
 * then kit.observables._btc: base58.b58decode_check (leading '1's are zero bytes, the rest one
 * big-endian number in as few bytes as it takes; the last 4 bytes the first 4 of SHA-256(SHA-256)
 * of the others) giving 21 bytes with a P2PKH/P2SH version byte. Its value is the text itself.
 * ~6 % of a batch's values, 3 of the 5 % the C code would otherwise hand back. */
static const char B58_ALPHABET[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static signed char b58_digit[128];

static int contains_nocase(const unsigned char *s, Py_ssize_t n, const char *needle) {
    Py_ssize_t m = (Py_ssize_t)strlen(needle);
    for (Py_ssize_t i = 0; i + m <= n; i++) {
        Py_ssize_t j = 0;
        while (j < m && (s[i + j] | 0x20) == (unsigned char)needle[j])
            j++;
        if (j == m)
            return 1;
    }
    return 0;
}

static int btc_ok(const unsigned char *s, Py_ssize_t n) {
    if (n < 26 || n > 35 || !(s[0] == '1' || s[0] == '2' || s[0] == '3' || s[0] == 'm' || s[0] == 'n'))
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] >= 128 || b58_digit[s[i]] < 0)
            return 0;
    if (contains_nocase(s, n, "hxxp") || contains_nocase(s, n, "htxp") || contains_nocase(s, n, "hxtp") ||
        contains_nocase(s, n, "fxp"))
        return 0;
    Py_ssize_t zeros = 0;
    while (zeros < n && s[zeros] == '1')
        zeros++;
    unsigned char number[40]; /* 58^35 < 2^206: 26 bytes at most */
    memset(number, 0, sizeof number);
    for (Py_ssize_t i = zeros; i < n; i++) {
        unsigned int carry = (unsigned int)b58_digit[s[i]];
        for (int j = (int)sizeof number - 1; j >= 0; j--) {
            carry += 58u * number[j];
            number[j] = (unsigned char)(carry & 0xFF);
            carry >>= 8;
        }
    }
    Py_ssize_t first = 0;
    while (first < (Py_ssize_t)sizeof number && number[first] == 0)
        first++;
    if (zeros + ((Py_ssize_t)sizeof number - first) != 25)
        return 0;
    unsigned char raw[25];
    memset(raw, 0, (size_t)zeros);
    memcpy(raw + zeros, number + first, (size_t)(25 - zeros));
    if (!(raw[0] == 0x00 || raw[0] == 0x05 || raw[0] == 0x6F || raw[0] == 0xC4))
        return 0;
    unsigned char once[SHA256_DIGEST_LENGTH], twice[SHA256_DIGEST_LENGTH];
    SHA256(raw, 21, once);
    SHA256(once, sizeof once, twice);
    return memcmp(twice, raw + 21, 4) == 0;
}

/* The kind of an ASCII text in a canonical shape, or -1; *lower set when the value is the text
 * lower-cased (hashes with upper-case digits). */
static int classify(const unsigned char *s, Py_ssize_t n, int *lower) {
    *lower = 0;
    if (n == 0)
        return -1;
    /* "http://" and "https://" hold ':' and '/', which no other shape allows */
    if (s[0] == 'h' && ((n >= 7 && memcmp(s, "http://", 7) == 0) || (n >= 8 && memcmp(s, "https://", 8) == 0)))
        return url_ok(s, n) ? K_URL : -1;
    Py_ssize_t i = 0;
    int digits_only = 1, upper = 0;
    for (; i < n && is_hex(s[i]); i++) {
        if (!is_digit(s[i])) {
            digits_only = 0;
            if (s[i] <= 'F')
                upper = 1;
        }
    }
    if (i == n) { /* the hex alternative took it: a hash of a hash length, never all digits */
        if (digits_only)
            return -1;
        *lower = upper;
        switch (n) {
            case 32: return K_MD5;
            case 40: return K_SHA1;
            case 64: return K_SHA256;
            case 128: return K_SHA512;
            default: return -1;
        }
    }
    if (is_ipv4(s, n))
        return K_IPV4;
    if (name_ok(s, n))
        return K_DOMAIN;
    if (is_ipv6(s, n))
        return K_IPV6;
    if (email_ok(s, n))
        return K_EMAIL;
    if (btc_ok(s, n))
        return K_BTC;
    return -1;
}

/* --- HMAC-SHA256 (RFC 2104) from two keyed states copied per value ---------------------------- */

typedef struct {
    SHA256_CTX inner, outer;
} keyed_t;

static void keyed_init(keyed_t *k, const unsigned char *key, Py_ssize_t key_len) {
    unsigned char block[BLOCK], pad[BLOCK];
    memset(block, 0, sizeof block);
    if (key_len > BLOCK)
        SHA256(key, (size_t)key_len, block);
    else
        memcpy(block, key, (size_t)key_len);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, BLOCK);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x5C;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, BLOCK);
}

static void keyed_digest(const keyed_t *k, const char *kind, const unsigned char *value, Py_ssize_t n,
                         unsigned char *out) {
    unsigned char inner_digest[SHA256_DIGEST_LENGTH], full[SHA256_DIGEST_LENGTH];
    SHA256_CTX ctx = k->inner;
    SHA256_Update(&ctx, kind, strlen(kind));
    SHA256_Update(&ctx, ":", 1);
    SHA256_Update(&ctx, value, (size_t)n);
    SHA256_Final(inner_digest, &ctx);
    ctx = k->outer;
    SHA256_Update(&ctx, inner_digest, sizeof inner_digest);
    SHA256_Final(full, &ctx);
    memcpy(out, full, DIGEST_BYTES);
}

/* --- the call --------------------------------------------------------------------------------- */

static int kind_index(PyObject *kind) {
    if (kind == Py_None)
        return -2;
    for (int k = 0; k < K_COUNT; k++) {
        int eq = PyUnicode_Compare(kind, kind_objects[k]);
        if (eq == 0)
            return k;
        if (eq == -1 && PyErr_Occurred())
            return -3;
    }
    return -1; /* a kind no fast shape has: everything goes to Python */
}

PyDoc_STRVAR(parse_digest_doc,
"parse_digest(values, kind, key) -> (parsed, digests, pending)\n\n"
"For each value in a canonical shape (and of ``kind`` when given): its (kind, value) pair in\n"
"``parsed`` and its 16-byte keyed digest at its place in ``digests`` (a bytearray of 16 bytes a\n"
"value). Every other value gets None and zeros, and its index in ``pending``: the caller\n"
"parses and hashes those.");

static PyObject *parse_digest(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *values, *kind;
    Py_buffer key;
    if (!PyArg_ParseTuple(args, "OOy*:parse_digest", &values, &kind, &key))
        return NULL;
    PyObject *parsed = NULL, *digests = NULL, *pending = NULL, *seq = NULL, *result = NULL;
    int wanted = -2;
    if (kind != Py_None && !PyUnicode_Check(kind)) {
        PyErr_SetString(PyExc_TypeError, "kind must be str or None");
        goto done;
    }
    wanted = kind_index(kind);
    if (wanted == -3)
        goto done;
    /* A tuple of the values (its own references): nothing an allocation below might run (the
     * collector, a finaliser) can resize or empty what is being read. */
    seq = PySequence_Tuple(values);
    if (seq == NULL)
        goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    PyObject **items = &PyTuple_GET_ITEM(seq, 0);
    parsed = PyList_New(n);
    digests = PyByteArray_FromStringAndSize(NULL, n * DIGEST_BYTES);
    pending = PyList_New(0);
    if (parsed == NULL || digests == NULL || pending == NULL)
        goto done;
    unsigned char *out = (unsigned char *)PyByteArray_AS_STRING(digests);
    memset(out, 0, (size_t)(n * DIGEST_BYTES));
    keyed_t keyed;
    keyed_init(&keyed, key.buf, key.len);

    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = items[i];
        int k = -1, lower = 0;
        /* Exact str only (a subclass keeps its type through the Python path); ASCII only (every
         * canonical shape is ASCII). */
        if (wanted != -1 && PyUnicode_CheckExact(item) && PyUnicode_IS_READY(item) && PyUnicode_IS_ASCII(item)) {
            k = classify(PyUnicode_1BYTE_DATA(item), PyUnicode_GET_LENGTH(item), &lower);
            if (wanted >= 0 && k != wanted)
                k = -1;
        }
        if (k < 0) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(pending, index) < 0) {
                Py_XDECREF(index);
                goto done;
            }
            Py_DECREF(index);
            Py_INCREF(Py_None);
            PyList_SET_ITEM(parsed, i, Py_None);
            continue;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(item);
        PyObject *value;
        if (lower) {
            value = PyUnicode_New(len, 127);
            if (value == NULL)
                goto done;
            const unsigned char *src = PyUnicode_1BYTE_DATA(item);
            unsigned char *dst = PyUnicode_1BYTE_DATA(value);
            for (Py_ssize_t j = 0; j < len; j++)
                dst[j] = (src[j] >= 'A' && src[j] <= 'F') ? (unsigned char)(src[j] + 32) : src[j];
        } else {
            Py_INCREF(item);
            value = item;
        }
        keyed_digest(&keyed, KIND_NAMES[k], PyUnicode_1BYTE_DATA(value), len, out + i * DIGEST_BYTES);
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(value);
            goto done;
        }
        Py_INCREF(kind_objects[k]);
        PyTuple_SET_ITEM(pair, 0, kind_objects[k]);
        PyTuple_SET_ITEM(pair, 1, value);
        PyList_SET_ITEM(parsed, i, pair);
    }
    result = PyTuple_Pack(3, parsed, digests, pending);
done:
    PyBuffer_Release(&key);
    Py_XDECREF(seq);
    Py_XDECREF(parsed);
    Py_XDECREF(digests);
    Py_XDECREF(pending);
    return result;
}

PyDoc_STRVAR(classify_doc, "classify(text) -> (kind, value) or None: the shape ``parse_digest`` accepts.");

static PyObject *classify_one(PyObject *self, PyObject *text) {
    (void)self;
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_READY(text) || !PyUnicode_IS_ASCII(text))
        Py_RETURN_NONE;
    int lower;
    int k = classify(PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text), &lower);
    if (k < 0)
        Py_RETURN_NONE;
    PyObject *value = lower ? PyObject_CallMethod(text, "lower", NULL) : (Py_INCREF(text), text);
    if (value == NULL)
        return NULL;
    PyObject *pair = PyTuple_Pack(2, kind_objects[k], value);
    Py_DECREF(value);
    return pair;
}

/* --- HashSet: the value filter's set of hashes (fusion/valuefilter.py) ----------------------
 *
 * Why native code: the filter holds ``hash(value)`` of every stored value (1.4M at 1M
 * observables). A Python set of ints costs ~80 bytes an entry there (117 MB, per server
 * process); this open-addressing table of 8-byte hashes, at most 70 % full, costs 11-23 bytes an
 * entry (16 MB), and ``filter`` tests a batch's values without a Python-level loop. A hash only
 * ever says "maybe stored": two values with one hash both pass, so a collision costs a database
 * probe, never an answer. Hashes are Python's own (``PyObject_Hash``, cached in each str, keyed
 * per process): the table is never shared between processes.
 */

typedef struct {
    PyObject_HEAD
    uint64_t *slots;   /* 0: empty */
    Py_ssize_t mask;   /* capacity - 1, capacity a power of two */
    Py_ssize_t used;
} HashSet;

static inline uint64_t slot_key(Py_hash_t h) {
    uint64_t k = (uint64_t)h;
    return k ? k : 1; /* 0 marks an empty slot; hash 0 shares slot key 1 (a collision: harmless) */
}

static inline Py_ssize_t slot_of(const HashSet *hs, uint64_t k) {
    /* Python's str hash is SipHash: its low bits are already well mixed. */
    Py_ssize_t i = (Py_ssize_t)(k & (uint64_t)hs->mask);
    while (hs->slots[i] != 0 && hs->slots[i] != k)
        i = (i + 1) & hs->mask;
    return i;
}

static int hashset_grow(HashSet *hs, Py_ssize_t need) {
    Py_ssize_t cap = hs->mask + 1;
    if (need * 10 <= cap * 7)
        return 0;
    while (need * 10 > cap * 7) {
        if (cap > PY_SSIZE_T_MAX / 16) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    uint64_t *old = hs->slots;
    Py_ssize_t old_cap = hs->mask + 1;
    uint64_t *slots = PyMem_Calloc((size_t)cap, sizeof(uint64_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    hs->slots = slots;
    hs->mask = cap - 1;
    for (Py_ssize_t i = 0; i < old_cap; i++)
        if (old[i] != 0)
            hs->slots[slot_of(hs, old[i])] = old[i];
    PyMem_Free(old);
    return 0;
}

static PyObject *hashset_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "HashSet() takes no arguments");
        return NULL;
    }
    HashSet *hs = (HashSet *)type->tp_alloc(type, 0);
    if (hs == NULL)
        return NULL;
    hs->slots = PyMem_Calloc(8, sizeof(uint64_t));
    if (hs->slots == NULL) {
        Py_DECREF(hs);
        return PyErr_NoMemory();
    }
    hs->mask = 7;
    hs->used = 0;
    return (PyObject *)hs;
}

static void hashset_dealloc(HashSet *hs) {
    PyMem_Free(hs->slots);
    Py_TYPE(hs)->tp_free((PyObject *)hs);
}

PyDoc_STRVAR(hashset_update_doc, "update(values): add the hash of every value (any iterable of hashables).");

static PyObject *hashset_update(HashSet *hs, PyObject *values) {
    PyObject *it = PyObject_GetIter(values);
    if (it == NULL)
        return NULL;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        Py_hash_t h = PyObject_Hash(item);
        Py_DECREF(item);
        if (h == -1 || hashset_grow(hs, hs->used + 1) < 0) {
            Py_DECREF(it);
            return NULL;
        }
        uint64_t k = slot_key(h);
        Py_ssize_t i = slot_of(hs, k);
        if (hs->slots[i] == 0) {
            hs->slots[i] = k;
            hs->used++;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hashset_filter_doc, "filter(values) -> list: the values whose hash is in the set, in order.");

static PyObject *hashset_filter(HashSet *hs, PyObject *values) {
    PyObject *it = PyObject_GetIter(values);
    if (it == NULL)
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        Py_hash_t h = PyObject_Hash(item);
        if (h == -1) {
            Py_DECREF(item);
            goto fail;
        }
        if (hs->slots[slot_of(hs, slot_key(h))] != 0 && PyList_Append(out, item) < 0) {
            Py_DECREF(item);
            goto fail;
        }
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
fail:
    Py_DECREF(it);
    Py_DECREF(out);
    return NULL;
}

static int hashset_contains(HashSet *hs, PyObject *item) {
    Py_hash_t h = PyObject_Hash(item);
    if (h == -1)
        return -1;
    return hs->slots[slot_of(hs, slot_key(h))] != 0;
}

static Py_ssize_t hashset_len(HashSet *hs) { return hs->used; }

PyDoc_STRVAR(hashset_nbytes_doc, "nbytes() -> int: the table's size in bytes.");

static PyObject *hashset_nbytes(HashSet *hs, PyObject *unused) {
    (void)unused;
    return PyLong_FromSsize_t((hs->mask + 1) * (Py_ssize_t)sizeof(uint64_t));
}

static PyMethodDef hashset_methods[] = {
    {"update", (PyCFunction)hashset_update, METH_O, hashset_update_doc},
    {"filter", (PyCFunction)hashset_filter, METH_O, hashset_filter_doc},
    {"nbytes", (PyCFunction)hashset_nbytes, METH_NOARGS, hashset_nbytes_doc},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods hashset_as_sequence = {
    .sq_length = (lenfunc)hashset_len,
    .sq_contains = (objobjproc)hashset_contains,
};

static PyTypeObject HashSetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cyberfusion.fusion._fastlookup.HashSet",
    .tp_doc = PyDoc_STR("A set of the hashes of values: 'maybe in' tests for the lookup's value filter."),
    .tp_basicsize = sizeof(HashSet),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = hashset_new,
    .tp_dealloc = (destructor)hashset_dealloc,
    .tp_methods = hashset_methods,
    .tp_as_sequence = &hashset_as_sequence,
};

static PyMethodDef methods[] = {
    {"parse_digest", parse_digest, METH_VARARGS, parse_digest_doc},
    {"classify", classify_one, METH_O, classify_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastlookup",
    "The batch lookup's per-value path for canonical shapes, in C (see hits.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastlookup(void) {
    memset(b58_digit, -1, sizeof b58_digit);
    for (int i = 0; B58_ALPHABET[i]; i++)
        b58_digit[(unsigned char)B58_ALPHABET[i]] = (signed char)i;
    for (int k = 0; k < K_COUNT; k++) {
        if (kind_objects[k] == NULL) {
            kind_objects[k] = PyUnicode_InternFromString(KIND_NAMES[k]);
            if (kind_objects[k] == NULL)
                return NULL;
        }
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "DIGEST_BYTES", DIGEST_BYTES) < 0 || PyType_Ready(&HashSetType) < 0 ||
        PyModule_AddObjectRef(m, "HashSet", (PyObject *)&HashSetType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
