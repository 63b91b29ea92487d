//! Examples and benchmarks of the thiscovery-crm workspace live in this package.
