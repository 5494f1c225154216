"""The monthly evaluation of grid staff (每月考核): rules as data, figures from the record."""
