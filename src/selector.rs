//! Label and field selectors (work in progress).
