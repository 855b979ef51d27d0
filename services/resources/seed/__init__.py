"""The seed directory (HSDS 3.0 JSON) shipped with resources."""
