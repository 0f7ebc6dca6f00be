"""
title: No Class
"""

VALUE = 1
