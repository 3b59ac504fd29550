"""Study definitions behind the book's notebooks: settings per profile, the methods compared,
the published numbers they are compared with, and the claims checked."""
