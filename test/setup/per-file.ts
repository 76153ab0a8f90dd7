// Loaded before every test file: type-graphql needs reflect-metadata before any decorated class.
import 'reflect-metadata';
