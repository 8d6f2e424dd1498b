"""A package with relative imports, selected with APP_MODULE=shop.web:app."""
