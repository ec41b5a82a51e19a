"""segmentkit"""
