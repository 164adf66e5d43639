# NIK parsing: 16 ASCII digits, known province/regency/district, a real date, serial > 0.
# Returns a reason code (NIK_OK or one of the failures) and the position it points at;
# the facade turns codes into messages (nik.py), so the hot path never formats strings.

# The codes (NIK_*) are constants.NikReason, rendered into _constants.pxi.

cdef unsigned char _province_ok[100]
cdef unsigned char _regency_ok[10000]
cdef unsigned char _district_ok[1000000]


def init_region_codes(provinces, regencies, districts):
    """Load the known region codes (integers) the NIK check accepts."""
    memset(_province_ok, 0, sizeof(_province_ok))
    memset(_regency_ok, 0, sizeof(_regency_ok))
    memset(_district_ok, 0, sizeof(_district_ok))
    for p in provinces:
        _province_ok[p] = 1
    for r in regencies:
        _regency_ok[r] = 1
    for d in districts:
        _district_ok[d] = 1


cdef inline bint _is_space(unsigned char c) noexcept nogil:
    return c == 32 or (9 <= c <= 13)


cdef inline int days_in_month(int month, bint leap) noexcept nogil:
    if month == 2:
        return 29 if leap else 28
    if month == 4 or month == 6 or month == 9 or month == 11:
        return 30
    return 31


cdef inline bint is_leap(int y) noexcept nogil:
    return (y % 4 == 0 and y % 100 != 0) or y % 400 == 0


cdef int nik_parse(const unsigned char *s, Py_ssize_t n, uint64_t *out, int *pos) noexcept nogil:
    """Validate a UTF-8 NIK. On NIK_OK, *out holds it; else *pos is the 1-based position."""
    cdef Py_ssize_t i
    cdef uint64_t v = 0
    cdef int digits = 0
    pos[0] = 0
    if n == 0:
        return NIK_EMPTY
    if _is_space(s[0]) or _is_space(s[n - 1]):
        pos[0] = 1 if _is_space(s[0]) else <int>n
        return NIK_WHITESPACE
    i = 0
    while i < n:
        if 48 <= s[i] <= 57:
            v = v * 10 + (s[i] - 48)
            digits += 1
            i += 1
        elif s[i] == 0xEF and i + 2 < n and s[i + 1] == 0xBC and 0x90 <= s[i + 2] <= 0x99:
            pos[0] = digits + 1
            return NIK_FULLWIDTH_DIGIT
        else:
            pos[0] = digits + 1
            return NIK_NON_DIGIT
    if digits != 16:
        pos[0] = digits
        return NIK_LENGTH
    return nik_check_value(v, out)


cdef int nik_check_value(uint64_t v, uint64_t *out) noexcept nogil:
    """The checks after the digits: region, date, serial (for NIKs sent as numbers too)."""
    cdef int day, month, yy, serial
    if not _province_ok[v // 100000000000000ULL]:
        return NIK_UNKNOWN_PROVINCE
    if not _regency_ok[v // 1000000000000ULL]:
        return NIK_UNKNOWN_REGENCY
    if not _district_ok[v // 10000000000ULL]:
        return NIK_UNKNOWN_DISTRICT
    day = <int>((v // 100000000ULL) % 100)
    month = <int>((v // 1000000ULL) % 100)
    yy = <int>((v // 10000ULL) % 100)
    serial = <int>(v % 10000)
    if day > 40:
        day -= 40
    # No century in a NIK: 29 February is real if either 19YY or 20YY is a leap year.
    if month < 1 or month > 12 or day < 1 or day > days_in_month(month, yy % 4 == 0):
        return NIK_BAD_DATE
    if serial == 0:
        return NIK_ZERO_SERIAL
    out[0] = v
    return NIK_OK


def py_nik_parse(str text):
    """(reason code, value or 0, position) for one NIK string."""
    cdef Py_ssize_t n
    cdef const char *s = PyUnicode_AsUTF8AndSize(text, &n)
    cdef uint64_t v = 0
    cdef int pos = 0
    cdef int reason = nik_parse(<const unsigned char *>s, n, &v, &pos)
    return reason, v, pos
